#!/usr/bin/env python3
"""test/demo/check_transcript.py: checks a `make demo` transcript against what issue 17 asks of it.

    make demo 2>&1 | python3 test/demo/check_transcript.py        # or: ... < transcript.txt

The demo is read by a clinic manager (doc/demo.md), so its output must be in one language
(Russian), round its figures, show unsure pairs where it says so, explain its counts and never cut
a text mid-word. Each check prints "ok" or "FAILED" with the lines at fault; the exit code is the
number of failed checks. It reads psql's aligned output with either line style (ASCII or unicode).
"""
import re
import sys

# Latin words a Russian reader meets anyway: the product's and its objects' names, field names
# shown as data, e-mail, Telegram, file names and codes (checked in column titles and headings).
ALLOWED_LATIN = {"cdp", "e", "mail", "golden", "records", "telegram", "seed", "test", "bench",
                 "gen_clinic", "py", "settings", "clinic", "json", "readme", "md", "patient_lineage",
                 "explain_match", "review_queue", "extra", "_invalid", "invalid", "sms", "f"}


def tables(lines):
    """(title line index, column titles) of every table: the line above a separator line."""
    for i in range(1, len(lines)):
        if re.fullmatch(r"[-─]+([+┼][-─]+)*\s*", lines[i]) and lines[i - 1].strip():
            yield i - 1, [c.strip() for c in re.split(r"[|│]", lines[i - 1])]


def section(lines, start_re):
    """The lines of the block that starts at the line matching start_re and ends at a blank line
    that follows the table (or the end)."""
    for i, line in enumerate(lines):
        if re.search(start_re, line):
            out = []
            for line2 in lines[i + 1:]:
                if not line2.strip() and len(out) > 2:
                    break
                out.append(line2)
            return out
    return None


def main():
    text = sys.stdin.read()
    lines = text.splitlines()
    failed = 0

    def report(name, bad):
        nonlocal failed
        if bad:
            failed += 1
            print(f"FAILED: {name}")
            for b in bad[:8]:
                print(f"    {b}")
        else:
            print(f"ok: {name}")

    report("the transcript is a whole demo run",
           [] if re.search(r"=== .*cdp", text) and len(lines) > 60 else ["too short or no title"])

    # one language: headings and column titles in Russian (Latin only for names in ALLOWED_LATIN)
    bad = []
    for line in lines:
        if re.match(r"\s*(---|===) ", line) and not re.search(r"[а-яА-Я]", line):
            bad.append(f"heading not in Russian: {line.strip()}")
    for _, cols in tables(lines):
        for c in cols:
            for w in re.findall(r"[A-Za-z_]+", c):
                if w.lower() not in ALLOWED_LATIN:
                    bad.append(f"column title in English: {c!r}")
                    break
    report("one language for the reader: headings and column titles in Russian", bad)

    # figures rounded for people: no number with five or more decimals anywhere
    bad = [line.strip() for line in lines if re.search(r"\d[.,]\d{5,}", line)]
    report("figures rounded for people (no raw floats)", bad)

    # the unsure section shows unsure pairs: none held back by a rule, none at full certainty
    unsure = section(lines, r"не уверен \(")
    if unsure is None:
        report("the unsure-pairs listing shows unsure pairs", ["no listing titled «... не уверен (...)»"])
    else:
        bad = [l.strip() for l in unsure
               if re.search(r"правило:|у этих людей|1\.000|100(\.0)? %|> 99\.9 %", l)]
        rows = [l for l in unsure if re.match(r"\s*\d+\s*[|│]", l)]
        report("the unsure-pairs listing shows unsure pairs", bad + ([] if rows else ["it lists no pair"]))

    # counts explained: queued at the run = no longer needing a decision + waiting now
    def figure(label_re):
        for line in lines:
            m = re.match(r"\s*(.*?)\s*[|│]\s*(\d+)\s*$", line)
            if m and re.search(label_re, m.group(1)):
                return int(m.group(2))
        return None
    queued, gone, waiting = (figure(r"^отправлено на проверку при сопоставлении"),
                             figure(r"^уже не требуют решения"), figure(r"^ждут решения сейчас"))
    if None in (queued, gone, waiting):
        report("queued and waiting pairs explained", [f"rows missing: queued={queued} gone={gone} waiting={waiting}"])
    else:
        report("queued and waiting pairs explained",
               [] if queued - gone == waiting else [f"{queued} - {gone} != {waiting}"])

    # wrong merges counted for what they are: golden records that mix people, and pairs
    bad = []
    if re.search(r"wrong merges", text):
        bad.append("a figure titled «wrong merges»")
    if figure(r"^карточек, в которых смешаны разные люди") is None:
        bad.append("no count of golden records that mix different people")
    if figure(r"^пар записей разных людей, попавших в одну карточку") is None:
        bad.append("no count of wrongly joined record pairs")
    report("wrong merges: golden records and pairs counted separately, each named", bad)

    # no text cut mid-word: a summary cell never ends in a letter run cut at a fixed width; the
    # demo prints summaries whole (one part per line), so no summary line is exactly 90 characters
    bad = [l.strip() for l in lines
           if re.search(r"совпал|не совпал", l) and any(len(c.strip()) == 90 for c in re.split(r"[|│]", l))]
    report("no summary cut at 90 characters", bad)

    # nothing that looks like an error to the manager: no psql ERROR/WARNING lines, no bare t/f cells
    bad = [l.strip() for l in lines if re.search(r"^psql:|\b(ERROR|WARNING):", l)]
    bad += [f"bare boolean under {lines[i].strip()!r}" for i in range(2, len(lines))
            if re.fullmatch(r"\s*[tf]\s*", lines[i]) and re.fullmatch(r"[-─]+\s*", lines[i - 1])]
    report("nothing that looks like an error (no ERROR/WARNING, no bare t/f)", bad)

    return failed


if __name__ == "__main__":
    sys.exit(main())
