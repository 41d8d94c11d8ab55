#!/usr/bin/env python3
"""test/bench/campaign_defs.py: CREATE OR REPLACE statements of named functions of sql/parts files,
for installing one version's definitions into a kept benchmark database (doc/benchmarks-campaigns.md, issue 14).

  python3 test/bench/campaign_defs.py --so LIBPATH --only=f1,f2 FILE... > defs.sql

FILE may be '-' for stdin (e.g. `git show main:sql/parts/87_campaign_delivery.sql | ... -`).
@extschema@ becomes cdp, MODULE_PATHNAME the library path given.
"""
import re
import sys


def statements(text):
    """Splits SQL text at top-level semicolons (quotes, dollar quotes and comments respected)."""
    i, n, start, out = 0, len(text), 0, []
    while i < n:
        c = text[i]
        if text.startswith('--', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        elif text.startswith('/*', i):
            i = text.find('*/', i + 2) + 2
        elif c == "'":
            j = i + 1
            while True:
                j = text.find("'", j)
                if text.startswith("''", j):
                    j += 2
                    continue
                break
            i = j + 1
        elif c == '$' and re.match(r'\$[A-Za-z_]*\$', text[i:]):
            tag = re.match(r'\$[A-Za-z_]*\$', text[i:]).group(0)
            i = text.find(tag, i + len(tag)) + len(tag)
        elif c == ';':
            out.append(text[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    return out


def main(argv):
    so, names, files = 'MODULE_PATHNAME', None, []
    for a in argv:
        if a.startswith('--so='):
            so = a[5:]
        elif a.startswith('--only='):
            names = set(a[7:].split(','))
        else:
            files.append(a)
    for f in files:
        text = sys.stdin.read() if f == '-' else open(f).read()
        for s in statements(text):
            t = re.sub(r'^(\s|/\*.*?\*/|--[^\n]*\n)*', '', s, flags=re.S)
            m = re.match(r'CREATE FUNCTION\s+([\w@.]+)\(', t)
            if not m or (names is not None and m.group(1).split('.')[-1] not in names):
                continue
            t = 'CREATE OR REPLACE FUNCTION' + t[len('CREATE FUNCTION'):]
            print(t.replace('@extschema@', 'cdp').replace("'MODULE_PATHNAME'", "'%s'" % so) + '\n')


if __name__ == '__main__':
    main(sys.argv[1:])
