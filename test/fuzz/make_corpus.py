#!/usr/bin/env python3
# test/fuzz/make_corpus.py: writes the seed corpus of the cdp fuzz targets (test/fuzz/corpus/<target>/)
# and the libFuzzer dictionary (test/fuzz/cdp.dict). Run it again after editing the lists below:
#
#   python3 test/fuzz/make_corpus.py test/fuzz/corpus        (or: make -C test/fuzz corpus)
#
# Seeds are small on purpose (libFuzzer mutates them); long inputs come from the 0xFE prefix, which
# makes the harness repeat the rest of the input past a length cap (test/fuzz/fuzz_common.h). A pair
# for fuzz_pair is two strings joined by 0xFF. Files are named by the SHA-1 of their bytes, as
# libFuzzer names the inputs it keeps, so a regenerated corpus has the same file names. Reproducers
# of fixed findings live in the same folders under a descriptive name (regress-*), not generated.
import hashlib
import os
import sys

NAMES = [
    'Иванова Мария Петровна', 'ИВАНОВА М.П.', 'Ivanova Mariia Petrovna', 'Римский-Корсаков',
    "O'Brien", 'Достоевская', 'Петровича', 'Щукин', 'Schmidt', 'Jackson', 'Ёлкина Алёна',
    'Саша', 'Маша', 'Lyudmila', 'Алексей Сергеевич Ильин-Женевский', 'Кузьмина-Караваева',
    'Муравьёв-Апостол', 'Гюльнара Ахмед кызы', 'Оглы Ахмед Али оглы', 'Zoë Ñúñez-Müller',
    'ИЛЬИН', 'Ильинична', 'Никитичну', 'Шаляпина', 'Толстой', 'Толстая', 'Ng', 'Ёж',
    'Й', '\u0439', '\u0438\u0306',  # precomposed й, decomposed (и + U+0306)
    'Jean-Paul  Sartre', 'dwayne', 'DIXON', 'Tchaikovsky', 'Чайковский', 'Xiao Wang',
    'Ⅻ ① ﬀ ß İ Ǆ', '\u200bИван\u200d', 'Ива\u0301н', '👨\u200d👩\u200d👧 Семья', '𝔸𝕟𝕟𝕒',
    '\u0130stanbul', 'Ы', '-', '', ' ', '.', "''", 'мария мария мария мария',
]
PHONES = ['+7 916 123-45-67', '8 (916) 123-45-67', '+7-916-123-45-67 доб. 12', '+44 20 7946 0958',
          '00 44 20 7946 0958', '9161234567', '+1 (212) 555-0100;ext=123', '+8 916 123 45 67',
          '+79161234567 x 5', '+683 1234', '+7 800 555 35 35', '7', '+', 'доб.', '+7 (916) 123-45-6x']
EMAILS = ['ivanov@mail.ru', 'Ivanov.Petr+clinic@Gmail.COM', 'иванов@почта.рф', 'a@b', 'a@b.c',
          '"quoted"@example.com', 'user@xn--80a1acny.xn--p1ai', 'x@' + 'a' * 63 + '.ru',
          '@mail.ru', 'ivanov@', 'iva nov@mail.ru', 'ivanov@mail..ru', 'ИВАНОВ@ПОЧТА.РФ']
SNILS = ['123-456-789 64', '12345678964', '001-001-998 00', '112-233-445 95', '000-000-000 00',
         '123 456 789 64', '123-456-789-64', '99999999999', '123-456-789 65']
OMS = ['1234567890123452', '0000000000000000', '9999999999999999', '12345678901234', '1234 5678 9012 3452']
DATES = [b'\x00\x00\x00\x00\xff\xff\xff\xff', b'\x7f\xff\xff\xff\x00\x00\x00\x80',
         b'\x10\x27\x00\x00\x11\x27\x00\x00']
ODD = [b'\xff\xfe', b'\xc0\x80', b'\xed\xa0\x80', b'\xf4\x90\x80\x80', b'\xe2\x82', b'a\x00b',
       b'\xd0', b'\xd0\xd0\xb0', b'\xf0\x9f\x98', b'\xef\xbb\xbf\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd']
# amplified: 0xFE + a unit repeated past the caps by the harness
LONG = [b'\xfe' + 'Щ'.encode(), b'\xfe' + b'a', b'\xfe' + 'Иванова '.encode(), b'\xfe' + '😀'.encode(),
        b'\xfe' + 'ab-'.encode(), b'\xfe' + '+7 916 '.encode()]
PAIRS = [('MARTHA', 'MARHTA'), ('DWAYNE', 'DUANE'), ('DIXON', 'DICKSONX'), ('butler', 'baker'),
         ('CA', 'ABC'), ('Иванова Мария', 'Иванов Мария Петрович'), ('МАРТА', 'МАРФА'),
         ('ИВАНОВА М.П.', 'Иванова Мария Петровна'), ('Петров Иван', 'Сидорова Анна'),
         ('+79161234567', '+79161234576'), ('8 916 123-45-67', '+7 916 123-45-67'),
         ('ivanov@mail.ru', 'ivanov@mial.ru'), ('ivanov1@mail.ru', 'ivanov2@mail.ru'),
         ('ivanov@bk.ru', 'ivanov@yandex.ru'), ('Иваннова Мария', 'Ivanova Maria'),
         ('аааа', 'аа'), ('0а', 'а0'), ('', ''), ('', 'a'), ('a', 'a'), ('Ёлкин', 'Елкин'),
         ('abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789X',
          'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789Y'),
         ('Алексей Сергеевич Ильин-Женевский', 'Ильин Алексей'), ('😀😃😄', '😃😀😄'),
         ('Ŧest', 'Test'), ('a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7',
                            'a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7')]

MATCH = [('мария', 'мари'), ('софья', 'Cjamz'), ('19800229', '19802902'), ('19800229', '19810229'),
         ('79161234567', '89161234567'), ('О.', 'Олег'), ('глеб', 'gleb'), ('иванов\x1fпетров', 'петров'),
         ('ирина', 'irina'), ('александр', 'FKTRCFYLH'), ('мар', 'март')]

INGEST = ['Иванова Мария Петровна', 'Иванова  М.П.', 'ИВАНОВА М. П.', 'Иванова М.П.Н.', 'А.Б.В.Г. Д',
          '  Мария\tПетровна \n', 'https://vk.com/@Ivanov/', 'T.ME/ivanov', '@@ivanov', 'www.ok.ru/x//',
          'wa.me/79161234567', 'Ж', 'женский', 'Male', 'муж', 'M', '2', '29.02.1980', '1980-02-29',
          '29/02/1981', '19800229', '1880-01-01', '1879-12-31', '2030-01-01', '1980-02-29T10:00',
          '1980-13-01', '-999-01-01', '0000-00-00', '31.04.1990', 'Ёлкина',
          # name roles: three parts cut at 0x1E
          'Мария\x1eПетровна\x1eИванова', 'Иванов\x1eИ.\x1eПетрович', 'Ivanova Maria\x1e\x1eПетровна',
          '\x1eСаша\x1e', 'Оглы\x1eАли\x1eАхмед оглы']

# fuzz_golden: a parameter byte (0x01 strict, 0x02 not an array, 0x04.. elements not strings, 0x80 long
# attribute), then an attribute and its rule names, cut at 0x1E
GOLDEN = [(0x01, 'family_name\x1evalidated\x1etrusted\x1erecent\x1ecomplete'), (0x00, 'city\x1erecent'),
          (0x01, 'city\x1erecent\x1erecent'), (0x00, 'city\x1erecent\x1erecent'), (0x01, 'phones\x1erecent'),
          (0x01, 'shoe_size\x1efrequent'), (0x01, 'birth_date'), (0x00, 'birth_date'), (0x03, 'sex\x1evalidated'),
          (0x05, 'snils\x1enull'), (0x01, 'oms\x1enewest'), (0x81, 'фамилия\x1eнедавний'), (0x80, 'я\x1eRecent'),
          (0x01, 'address\x1ecomplete\x1efrequent\x1etrusted\x1evalidated\x1erecent\x1ecomplete')]

DICT = [b'\xff', b'\xfe', '-', "'", '.', ' ', '@', '+7', '8 ', '00', 'доб.', 'ext=', ';ext=', ' x ', '#', 'xn--',
        '.рф', '.ru', 'mail', 'ова', 'ева', 'ина', 'ская', 'ский', 'цкая', 'ович', 'овна', 'евич',
        'евна', 'ична', 'кызы', 'оглы', 'ё', 'й', '\u0306', '\u0301', '\u0308', 'ъ', 'ь', 'щ', 'ы',
        'ü', 'ß', 'ø', 'æ', 'þ', 'ı', 'İ', 'ﬀ', '\u200b', '\u200d', '\ufeff', '—', '–', '’',
        'https://', 'vk.com/', 't.me/', 'муж', 'жен', '1980-', '.1980', '/1980', 'T',
        'sch', 'tch', 'kh', 'zh', 'ts', 'ya', 'yu', 'iy', 'ck', 'ph', 'gh', 'ough', 'mc', 'de ',
        b'\x1e', 'validated', 'trusted', 'recent', 'frequent', 'complete', 'family_name', 'birth_date']


def write(folder, data):
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), 'wb') as f:
        f.write(data)


def dict_escape(s):
    out = ''
    for b in (s if isinstance(s, bytes) else s.encode()):
        out += chr(b) if 0x20 <= b < 0x7f and chr(b) not in '"\\' else '\\x%02X' % b
    return out


def compile_doc(comps, rules, lists=(), lam=7):
    """A settings document in the bytes fuzz_compile.c reads (ReadDoc): comps are (attr index,
    tf, comparator, [(op, arg byte, with)]), rules (any_order, [(comparison, transform)]), lists
    the comparisons of the three rule lists; m and u bytes give 0.968 and 0.09."""
    out = [len(comps)]
    for attr, tf, cmp, levels in comps:
        out += [attr | (0x80 if tf else 0), cmp, len(levels)]
        for op, arg, with_ in levels:
            out += [op, arg, with_ + 1]
        out += [247, 23] * (len(levels) + 1)
    out.append(len(rules))
    for any_order, keys in rules:
        out.append(len(keys) | (0x80 if any_order else 0))
        for comp, tr in keys:
            out += [comp, tr]
    for i in range(3):
        out += [1 if c in (lists[i] if i < len(lists) else ()) else 0 for c in range(len(comps))]
    out.append(lam)
    return bytes(b % 256 for b in out)


# fuzz_compile: level ops 1 exact, 2 key, 3 jw, 4 osa, 5 day_month_swapped, 6 same_year, 7 last7,
# 8 initial, 9 prefix, 10 swapped, 11 cross; comparators 1 name ... 7 exact; arg byte b is (b - 128) / 8
# (0xFF NaN, 0xFE -inf); transforms 0 none ... 5 prefix3, 6 key, 7 phonetic
NAME3 = [(0, True, 1, [(1, 0, -1), (2, 0, -1), (10, 0, 1), (11, 0, 1), (3, 135, -1), (3, 134, -1)]),
         (1, True, 1, [(1, 0, -1), (2, 0, -1), (10, 0, 0), (11, 0, 2), (3, 135, -1), (8, 0, -1)]),
         (2, True, 1, [(1, 0, -1), (2, 0, -1), (11, 0, 0), (3, 135, -1), (8, 0, -1)])]
COMPILE = [
    compile_doc(NAME3 + [(6, False, 3, [(1, 0, -1), (5, 0, -1), (4, 136, -1)]), (5, False, 7, [(1, 0, -1)]),
                         (7, False, 4, [(1, 0, -1), (7, 0, -1)]), (8, False, 5, [(1, 0, -1), (3, 135, -1)]),
                         (9, False, 6, [(1, 0, -1), (4, 136, -1)]), (10, False, 6, [(1, 0, -1), (4, 136, -1)]),
                         (3, False, 2, [(1, 0, -1), (3, 135, -1)]), (4, True, 2, [(1, 0, -1)]),
                         (11, False, 6, [(1, 0, -1)]), (12, False, 6, [(1, 0, -1)])],
                [(False, [(0, 6), (3, 1)]), (False, [(1, 6), (3, 0)]), (False, [(3, 0), (1, 3)]),
                 (True, [(0, 6), (1, 6)]), (True, [(0, 6), (1, 6), (2, 6)]), (False, [(5, 0)]), (False, [(8, 0)])],
                [(7, 8, 5), (7,), (1, 2, 3)]),
    compile_doc(NAME3[:2], [(False, [(0, 7)])]),
    compile_doc([(12, False, 6, [(7, 130, -1), (9, 152, -1), (4, 136, -1)])], [(False, [(0, 4), (0, 5), (0, 2), (0, 1)])]),
    compile_doc([(a % 13, a % 2 == 0, 1 + a % 7, [(1, 136, -1)] * 8) for a in range(24)],
                [(False, [(r % 24, 0)] * 4) for r in range(16)], [(3,), (5, 6), ()]),
    compile_doc([(0, False, 1, [(10, 0, 0)])], [(False, [(0, 0)])]),
    compile_doc([(5, False, 7, [(2, 0, -1)])], [(False, [(0, 6)])]),
    compile_doc([(0, False, 1, [(1, 0, -1)])] * 25, [(False, [(0, 0)])]),
]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    for target in ('fuzz_text', 'fuzz_pair', 'fuzz_types', 'fuzz_ingest', 'fuzz_match', 'fuzz_compile', 'fuzz_recv', 'fuzz_golden'):
        folder = os.path.join(root, target)
        if os.path.isdir(folder):
            for f in os.listdir(folder):
                if not f.startswith('regress-'):
                    os.remove(os.path.join(folder, f))
    for s in NAMES + ODD + LONG:
        write(os.path.join(root, 'fuzz_text'), s)
    for s in PHONES + EMAILS + SNILS + OMS + ODD + LONG:
        write(os.path.join(root, 'fuzz_types'), s)
    # fuzz_recv: binary values as send writes them (big-endian int8; phone: int8, int4, int4)
    import struct
    for v in (12345678964, 0, 99999999999, 1234567890123452, 9999999999999999, -1, 2 ** 63 - 1, 1001998):
        write(os.path.join(root, 'fuzz_recv'), struct.pack('>q', v))
    for e164, ext, res in ((79161234567, 0, 0), (79161234567, 12, 0), (442079460958, 0, 0),
                           (6831234, 0, 0), (79161234567, 0, 1), (-5, 0, 0), (7916123456, 0, 0)):
        write(os.path.join(root, 'fuzz_recv'), struct.pack('>qii', e164, ext, res))
    for s in EMAILS[:6]:
        write(os.path.join(root, 'fuzz_recv'), s)
    for s in INGEST:
        write(os.path.join(root, 'fuzz_ingest'), s)
    for a, b in PAIRS:
        write(os.path.join(root, 'fuzz_pair'), a.encode() + b'\xff' + b.encode())
    # fuzz_match: a parameter byte (osa cap, jw threshold, prefix length, score bound), then a pair
    for i, (a, b) in enumerate(PAIRS + MATCH):
        write(os.path.join(root, 'fuzz_match'), bytes([(i * 37) % 256]) + a.encode() + b'\xff' + b.encode())
    for param, s in GOLDEN:
        write(os.path.join(root, 'fuzz_golden'), bytes([param]) + s.encode())
    for d in COMPILE:
        write(os.path.join(root, 'fuzz_compile'), d)
    for d in DATES:
        write(os.path.join(root, 'fuzz_pair'), b'x\xffy' + d)
    for s in ODD:
        write(os.path.join(root, 'fuzz_pair'), s + b'\xff' + 'Иван'.encode())
    for s in LONG:
        write(os.path.join(root, 'fuzz_pair'), b'\xfe' + 'Иван'.encode() + b'\xff' + s[1:])
    with open(os.path.join(os.path.dirname(os.path.abspath(root)), 'cdp.dict'), 'w') as f:
        f.write('# test/fuzz/cdp.dict: libFuzzer dictionary for the cdp targets, written by make_corpus.py.\n')
        for i, s in enumerate(DICT):
            f.write('t%d="%s"\n' % (i, dict_escape(s)))


if __name__ == '__main__':
    main()
