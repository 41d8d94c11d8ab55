#!/usr/bin/env python3
"""test/bench/gen_clinic.py: a deterministic synthetic population of a Russian clinic, with known truth.

    gen_clinic.py --persons N --seed S --out FILE.csv [--truth-col person_id] [--family-col family]

Writes one CSV row per source record (1-6 records per person, six sources with their own habits
and errors) with the true person id in a column, so that a matcher's output can be scored
(test/bench/accuracy). The same seed always gives the same file, byte for byte, on any Python 3.
Every column, corruption and rate is documented in doc/generator.md. Standard library only.
"""

import argparse
import bisect
import csv
import datetime
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_clinic_data as D  # noqa: E402

COLUMNS = ["source", "source_id", "person_id", "family_name", "given_name", "patronymic", "full_name",
		   "birth_date", "sex", "phone", "email", "snils", "oms", "address", "city", "vk", "telegram"]

# Ages are counted at this date (not today) so that a seed gives the same file in any year.
REF_DATE = datetime.date(2025, 1, 1)
REF_ORD = REF_DATE.toordinal()

# Records per person: 1..6 with these weights.
RECORDS_PER_PERSON = [34, 26, 18, 11, 7, 4]

# Sources and how many of the records each one writes.
SOURCES = [("reception", 34), ("doctors_desk", 18), ("lab", 15), ("call_centre", 13),
		   ("sick_leave", 8), ("partner_lab", 12)]

# Adult age bands (from, to, weight): roughly the Russian population pyramid of 2020.
ADULT_AGES = [(18, 24, 8), (25, 29, 7), (30, 34, 10), (35, 39, 11), (40, 44, 10), (45, 49, 9),
			  (50, 54, 8), (55, 59, 9), (60, 64, 9), (65, 69, 8), (70, 74, 6), (75, 79, 3),
			  (80, 84, 2.5), (85, 89, 1.2), (90, 95, 0.4)]

# Household kinds and weights; see doc/generator.md.
HOUSEHOLDS = [("single", 40), ("couple", 20), ("family", 27), ("single_parent", 8),
			  ("namesake", 3), ("father_son", 2)]

# Rates of corruptions (per field of a record, unless said otherwise).
RATE = {
	"typo": 0.025,			# insert, delete, substitute or transpose one letter of a name
	"keyboard": 0.015,		# a ЙЦУКЕН neighbour instead of the letter
	"wrong_layout": 0.002,	# the name typed with the Latin layout on (Иванов -> Bdfyjd)
	"yo_to_e": 0.65,		# ё written as е (when the name has ё)
	"swap_names": 0.015,	# given and family name exchanged
	"day_month_swap": 0.015,	# birth date day and month exchanged (when both <= 12)
	"date_digit": 0.01,		# one digit of the birth date wrong
	"phone_digit": 0.01,	# one digit of a phone wrong
	"old_phone_person": 0.12,	# persons who changed their mobile number
	"old_phone_record": 0.4,	# records of such persons with the old number
	"moved_person": 0.08,	# persons who moved
	"old_address_record": 0.4,	# records of such persons with the old address
	"maiden_record": 0.35,	# records of married women with the maiden name
	"snils_typo": 0.005,	# SNILS with one wrong digit (invalid checksum)
	"oms_typo": 0.005,		# OMS number with one wrong digit
	"email_typo": 0.01,		# one letter of the e-mail wrong
	"upper_case": 0.04,		# a record's Cyrillic name written in upper case (per record)
	"lower_case": 0.02,		# ... in lower case (per record)
	"extra_space": 0.01,	# a doubled or trailing space in a name
}

_KEY_NEIGHBOURS = {}
_LAYOUT = {}


# _init_keyboards: ЙЦУКЕН neighbour sets and the Cyrillic -> Latin-layout key map.
def _init_keyboards():
	rows = D.JCUKEN_ROWS
	for r, row in enumerate(rows):
		for i, ch in enumerate(row):
			near = []
			if i > 0:
				near.append(row[i - 1])
			if i + 1 < len(row):
				near.append(row[i + 1])
			for rr in (r - 1, r + 1):
				if 0 <= rr < len(rows):
					for j in (i, i + 1 if rr < r else i - 1):
						if 0 <= j < len(rows[rr]):
							near.append(rows[rr][j])
			_KEY_NEIGHBOURS[ch] = "".join(near)
			_LAYOUT[ch] = D.QWERTY_ROWS[r][i]
	_LAYOUT["ё"] = "`"
	_KEY_NEIGHBOURS["ё"] = "е"


_init_keyboards()


# ri: a random integer in [a, b] from one rng.random() call (randint is three times slower; this
# is as deterministic, and the bias for ranges far below 2**53 is nil).
def ri(rng, a, b):
	return a + int(rng.random() * (b - a + 1))


class Weighted:
	"""A weighted choice over a list, by bisection of cumulative weights (fast, deterministic)."""

	def __init__(self, items, weights):
		self.items = list(items)
		self.cum = []
		total = 0.0
		for w in weights:
			total += w
			self.cum.append(total)
		self.total = total

	def pick(self, rng):
		"""One item drawn with probability proportional to its weight."""
		return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


# ---------------------------------------------------------------------------------------------
# Names

# feminine_surname: the female form of a male surname (Иванов -> Иванова, Толстой -> Толстая,
# Покровский -> Покровская; Шевченко, Черных, Саркисян, Кац stay as they are).
def feminine_surname(s):
	if s.endswith(("ов", "ев", "ёв", "ин", "ын")):
		return s + "а"
	if s.endswith(("ский", "цкий")):
		return s[:-2] + "ая"
	if s.endswith("ой"):
		return s[:-2] + "ая"
	return s


# patronymic: the patronymic of a child of a man called `father`, for sex 'M' or 'F'.
# Rules (Розенталь, Справочник по правописанию, § on отчества): consonant -> -ович/-овна;
# -й after a vowel -> -евич/-евна (Сергей -> Сергеевич); -ий after a consonant -> -ьевич/-ьевна
# (Юрий -> Юрьевич); -ь -> -евич/-евна (Игорь -> Игоревич); -а/-я names and irregular stems from
# the exception table (Илья -> Ильич/Ильинична, Пётр -> Петрович, Лев -> Львович).
def patronymic(father, sex):
	exc = D.PATRONYMIC_EXCEPTIONS.get(father)
	if exc:
		return exc[0] if sex == "M" else exc[1]
	if father.endswith("ий"):
		stem = father[:-2] + "ь"
		return stem + ("евич" if sex == "M" else "евна")
	if father.endswith(("ей", "ай", "яй", "ой")):
		stem = father[:-1]
		return stem + ("евич" if sex == "M" else "евна")
	if father.endswith("ь"):
		stem = father[:-1]
		return stem + ("евич" if sex == "M" else "евна")
	if father.endswith(("а", "я")):
		stem = father[:-1]
		return stem + ("ич" if sex == "M" else "ична")
	if father[-1] in "жшчщц":
		return father + ("евич" if sex == "M" else "евна")
	return father + ("ович" if sex == "M" else "овна")


# Translit tables. ICAO Doc 9303 (2013; Russian passports since 2014): Мария -> MARIIA.
_ICAO = {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
		 "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
		 "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
		 "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu", "я": "ia"}
# Informal (what people type themselves; close to BGN/PCGN without diacritics): Мария -> Maria.
_INFORMAL = dict(_ICAO, **{"ё": "yo", "й": "y", "ъ": "", "ю": "yu", "я": "ya", "щ": "sch"})
# GOST 7.79-2000 system B with the apostrophes and backticks dropped, as systems store it.
_GOST = dict(_ICAO, **{"ё": "yo", "й": "j", "х": "x", "ц": "cz", "щ": "shh", "ъ": "", "ю": "yu",
					   "я": "ya"})


# translit: Cyrillic -> Latin by one scheme ('icao', 'informal', 'informal2', 'gost'); keeps case
# of the first letter, other characters pass through.
def translit(s, scheme):
	key = (s, scheme)
	res = _TRANSLIT_CACHE.get(key)
	if res is None:
		if len(_TRANSLIT_CACHE) > 200000:
			_TRANSLIT_CACHE.clear()
		res = _TRANSLIT_CACHE[key] = _translit(s, scheme)
	return res


_TRANSLIT_CACHE = {}


# _translit: translit() without the cache.
def _translit(s, scheme):
	low = s.lower()
	if scheme == "icao":
		table = _ICAO
	elif scheme == "gost":
		table = _GOST
	else:
		table = _INFORMAL
		# Informal habits for name endings: Мария -> Maria, Юлия -> Yulia, Дмитрий -> Dmitriy/Dmitry.
		if low.endswith("ия"):
			low = low[:-2] + ("\x01" if scheme == "informal" else "\x02")
		elif low.endswith("ий"):
			low = low[:-2] + ("\x03" if scheme == "informal" else "\x04")
	out = []
	prev = ""
	for ch in low:
		if ch == "\x01":
			out.append("ia")
		elif ch == "\x02":
			out.append("iya")
		elif ch == "\x03":
			out.append("iy")
		elif ch == "\x04":
			out.append("y")
		elif scheme == "gost" and ch == "ц":
			out.append("cz")
		elif scheme == "informal2" and ch == "е" and (prev == "" or prev in "аеёиоуыэюяъь "):
			out.append("ye")
		elif scheme == "informal2" and ch == "х":
			out.append("h")
		else:
			out.append(table.get(ch, ch))
		prev = ch
	res = "".join(out)
	if scheme == "gost":
		# system B: ц is c before e, i, y, j
		res = res.replace("cze", "ce").replace("czi", "ci").replace("czy", "cy").replace("czj", "cj")
	if s[:1].isupper() and res:
		res = res[0].upper() + res[1:]
	return res


# ---------------------------------------------------------------------------------------------
# Identifiers

# snils_check: the two check digits of a SNILS from its first nine digits (Пенсионный фонд РФ):
# s = sum of digit_i * (10 - i); s < 100: s; s in (100, 101): 00; s > 101: s mod 101, 100 -> 00.
def snils_check(d9):
	s = sum(int(c) * (9 - i) for i, c in enumerate(d9))
	if s < 100:
		return s
	if s in (100, 101):
		return 0
	s %= 101
	return 0 if s == 100 else s


# make_snils: a valid SNILS (11 digits) with number above 001-001-998, as issued.
def make_snils(rng):
	n = ri(rng, 1001999, 999999999)
	d9 = "%09d" % n
	return d9 + "%02d" % snils_check(d9)


# oms_check: the check digit of a 16-digit single-format OMS policy from its first 15 digits
# (приказ ФФОМС № 79, 2011): counting from the right, the digits at odd positions as a number,
# times two; the digits at even positions as a number written before it; sum of all the digits;
# check = (10 - sum mod 10) mod 10.
def oms_check(d15):
	rev = d15[::-1]
	odd = rev[0::2]
	even = rev[1::2]
	joined = even + str(int(odd) * 2)
	s = sum(int(c) for c in joined)
	return (10 - s % 10) % 10


# make_oms: a valid 16-digit OMS number starting with a region code.
def make_oms(rng, region):
	d15 = region + "%013d" % ri(rng, 0, 10 ** 13 - 1)
	return d15 + str(oms_check(d15))


# OMS region prefixes by city (ОКАТО first two digits).
_OMS_REGION = {"Москва": "45", "Санкт-Петербург": "40", "Новосибирск": "50", "Екатеринбург": "65",
			   "Казань": "92", "Нижний Новгород": "22", "Челябинск": "75", "Самара": "36"}


# ---------------------------------------------------------------------------------------------
# Corruptions

class Corruptor:
	"""Applies errors to field values at the documented rates and counts what it did."""

	def __init__(self, rng):
		self.rng = rng
		self.count = {}

	def _note(self, kind):
		self.count[kind] = self.count.get(kind, 0) + 1

	def typo(self, s, latin=False):
		"""One insertion, deletion, substitution or transposition (not of the first letter)."""
		rng = self.rng
		if len(s) < 3:
			return s
		i = ri(rng, 1, len(s) - 1)
		op = ri(rng, 0, 3)
		alphabet = "abcdefghijklmnopqrstuvwxyz" if latin else "абвгдежзийклмнопрстуфхцчшщыьэюя"
		c = alphabet[ri(rng, 0, len(alphabet) - 1)]
		if s[i - 1].isupper() and s[i:i + 1].isupper():
			c = c.upper()
		self._note("typo")
		if op == 0:
			return s[:i] + s[i + 1:]
		if op == 1:
			return s[:i] + c + s[i:]
		if op == 2:
			return s[:i] + c + s[i + 1:]
		if i + 1 < len(s):
			return s[:i] + s[i + 1] + s[i] + s[i + 2:]
		return s[:i - 1] + s[i] + s[i - 1]

	def keyboard(self, s):
		"""One letter replaced by a neighbouring ЙЦУКЕН key."""
		rng = self.rng
		idx = [i for i, ch in enumerate(s) if ch.lower() in _KEY_NEIGHBOURS and i > 0]
		if not idx:
			return s
		i = idx[ri(rng, 0, len(idx) - 1)]
		near = _KEY_NEIGHBOURS[s[i].lower()]
		c = near[ri(rng, 0, len(near) - 1)]
		if s[i].isupper():
			c = c.upper()
		self._note("keyboard")
		return s[:i] + c + s[i + 1:]

	def wrong_layout(self, s):
		"""The word typed with the Latin keyboard layout switched on."""
		self._note("wrong_layout")
		out = []
		for ch in s:
			m = _LAYOUT.get(ch.lower())
			if m is None:
				out.append(ch)
			else:
				out.append(m.upper() if ch.isupper() else m)
		return "".join(out)

	def name(self, s, yo_rate):
		"""A Cyrillic name part as a clerk types it: ё/е, typos, slips, case, spaces."""
		if not s:
			return s
		rng = self.rng
		if "ё" in s or "Ё" in s:
			if rng.random() < yo_rate:
				s = s.replace("ё", "е").replace("Ё", "Е")
				self._note("yo_to_e")
		r = rng.random()
		if r < RATE["typo"]:
			s = self.typo(s)
		elif r < RATE["typo"] + RATE["keyboard"]:
			s = self.keyboard(s)
		elif r < RATE["typo"] + RATE["keyboard"] + RATE["wrong_layout"]:
			return self.wrong_layout(s)
		if rng.random() < RATE["extra_space"]:
			s = s + " " if rng.random() < 0.5 else " " + s
			self._note("extra_space")
		return s

	def digit(self, s, kind, positions=None):
		"""One digit of s (or of s at one of the given positions) replaced by another."""
		rng = self.rng
		idx = positions or [i for i, ch in enumerate(s) if ch.isdigit()]
		if not idx:
			return s
		i = idx[ri(rng, 0, len(idx) - 1)]
		c = str((int(s[i]) + ri(rng, 1, 9)) % 10)
		if kind:
			self._note(kind)
		return s[:i] + c + s[i + 1:]


# ---------------------------------------------------------------------------------------------
# Formatting of values

# fmt_phone: ten national digits in one of the ways people write them.
def fmt_phone(d, style):
	a, b, c, e = d[:3], d[3:6], d[6:8], d[8:]
	if len(d) == 10 and d[0] == "3" and style < 3:
		# four-digit area code: (3812) 12-34-56
		a, b, c, e = d[:4], d[4:6], d[6:8], d[8:]
		return ("+7 (%s) %s-%s-%s", "8 (%s) %s-%s-%s", "8-%s-%s-%s-%s")[style] % (a, b, c, e)
	if style == 0:
		return "+7 (%s) %s-%s-%s" % (a, b, c, e)
	if style == 1:
		return "8 (%s) %s-%s-%s" % (a, b, c, e)
	if style == 2:
		return "8-%s-%s-%s-%s" % (a, b, c, e)
	if style == 3:
		return "8" + d
	if style == 4:
		return "+7" + d
	if style == 5:
		return "+7 %s %s %s %s" % (a, b, c, e)
	return "%s %s-%s-%s" % (a, b, c, e)


# fmt_date: a date as YYYY-MM-DD (iso) or DD.MM.YYYY (ru).
def fmt_date(y, m, d, iso):
	return "%04d-%02d-%02d" % (y, m, d) if iso else "%02d.%02d.%04d" % (d, m, y)


# fmt_snils: 11 digits as 123-456-789 01, 12345678901 or 123-456-789-01.
def fmt_snils(s, style):
	if style == 0:
		return "%s-%s-%s %s" % (s[:3], s[3:6], s[6:9], s[9:])
	if style == 1:
		return s
	return "%s-%s-%s-%s" % (s[:3], s[3:6], s[6:9], s[9:])


# ---------------------------------------------------------------------------------------------
# Persons and households

# Per-source offsets of the id scrambling, so that sources do not share id sequences.
_SOURCE_OFFSET = {"reception": 12345, "doctors_desk": 387420489, "lab": 48828125, "call_centre": 282475249,
				  "sick_leave": 714924299, "partner_lab": 594823321}


class Person:
	"""The truth about one person."""
	__slots__ = ("pid", "sex", "family", "maiden", "given", "patr", "birth", "mobile", "old_mobile",
				 "landline", "email", "snils", "oms", "addr", "old_addr", "city", "vk", "telegram",
				 "guardian", "household")


# The modes of the generator (see doc/generator.md): the default population, name-dense (the few
# hundred commonest names at steep frequencies), sparse (many records with a name only, or a name
# and a city, as in historical registers).
MODES = ("default", "name-dense", "sparse")


# dense_given: the DENSE_GIVEN_TOP commonest names of a (name, weight) list as a Weighted, the
# weights raised to DENSE_GIVEN_POWER (name-dense mode).
def dense_given(names):
	top = sorted(names, key=lambda nw: -nw[1])[:D.DENSE_GIVEN_TOP]
	return Weighted([n for n, _ in top], [w ** D.DENSE_GIVEN_POWER for _, w in top])


class Generator:
	"""Draws households of persons and renders their source records."""

	def __init__(self, seed, mode="default"):
		if mode not in MODES:
			raise ValueError("unknown mode %r (one of %s)" % (mode, ", ".join(MODES)))
		self.mode = mode
		self.rng = random.Random(seed)
		self.cor = Corruptor(self.rng)
		self.next_pid = 1
		self.next_hh = 0
		if mode == "name-dense":
			self.male = dense_given(D.MALE_NAMES)
			self.female = dense_given(D.FEMALE_NAMES)
			self.surname = Weighted(D.SURNAMES, [1.0 / (r + D.DENSE_SURNAME_OFFSET) ** D.DENSE_SURNAME_EXPONENT
												 for r in range(len(D.SURNAMES))])
		else:
			self.male = Weighted([n for n, _ in D.MALE_NAMES], [w for _, w in D.MALE_NAMES])
			self.female = Weighted([n for n, _ in D.FEMALE_NAMES], [w for _, w in D.FEMALE_NAMES])
			common = [(s, 1.0 / (r + 8) ** 0.8) for r, s in enumerate(D.SURNAMES)]
			total_common = sum(w for _, w in common)
			rare = [(stem + suf, w) for stem in D.RARE_STEMS for suf, w in D.RARE_SUFFIXES]
			total_rare = sum(w for _, w in rare)
			# the rare tail gets 12% of all persons
			scale = total_common * 0.12 / 0.88 / total_rare
			items = common + [(s, w * scale) for s, w in rare]
			self.surname = Weighted([s for s, _ in items], [w for _, w in items])
		self.age_bands = {}
		self.city = Weighted(D.CITIES, [c[1] for c in D.CITIES])
		self.street = Weighted(D.STREETS, [1] * len(D.STREETS))
		self.domain = Weighted([d for d, _ in D.EMAIL_DOMAINS], [w for _, w in D.EMAIL_DOMAINS])
		self.household = Weighted([h for h, _ in HOUSEHOLDS], [w for _, w in HOUSEHOLDS])
		self.nrec = Weighted(list(range(1, 7)),
							 D.DENSE_RECORDS_PER_PERSON if mode == "name-dense" else RECORDS_PER_PERSON)
		self.source = Weighted([s for s, _ in SOURCES], [w for _, w in SOURCES])
		self.recent = []			# recent adults, for namesakes
		self.src_counter = {s: 0 for s, _ in SOURCES}
		self.stats = {"households": {}, "sources": {s: 0 for s, _ in SOURCES}, "hist": [0] * 7,
					  "persons": 0, "records": 0}

	# -- drawing of attributes -----------------------------------------------------------------

	def given(self, sex):
		"""A given name for sex 'M' or 'F', by frequency."""
		return (self.male if sex == "M" else self.female).pick(self.rng)

	def family_name(self, sex):
		"""A surname by frequency, in the form for sex 'M' or 'F'."""
		s = self.surname.pick(self.rng)
		return s if sex == "M" else feminine_surname(s)

	def birth_adult(self, lo=18, hi=95):
		"""A birth date (ordinal) of an adult, age drawn from the pyramid within [lo, hi]."""
		rng = self.rng
		bands = self.age_bands.get((lo, hi))
		if bands is None:
			ok = [(max(a, lo), min(b, hi), w) for a, b, w in ADULT_AGES if b >= lo and a <= hi]
			bands = self.age_bands[(lo, hi)] = Weighted(ok, [w for _, _, w in ok])
		a, b, _w = bands.pick(rng)
		age = ri(rng, a, b)
		return REF_ORD - age * 365 - ri(rng, 0, 364) - age // 4

	def mobile(self):
		"""Ten national digits of a mobile number (9xx)."""
		rng = self.rng
		return D.MOBILE_CODES[ri(rng, 0, len(D.MOBILE_CODES) - 1)] + "%07d" % ri(rng, 0, 9999999)

	def address(self, city):
		"""A street address in a city: (street, type, house, korpus, flat)."""
		rng = self.rng
		local = D.STREETS_MOSCOW if city == "Москва" else D.STREETS_SPB if city == "Санкт-Петербург" else None
		if local and rng.random() < 0.4:
			st, typ = local[ri(rng, 0, len(local) - 1)]
		else:
			st, typ = self.street.pick(rng)
		house = str(ri(rng, 1, 150) if rng.random() < 0.8 else ri(rng, 151, 300))
		korpus = str(ri(rng, 1, 5)) if rng.random() < 0.15 else ""
		flat = str(ri(rng, 1, 400)) if rng.random() < 0.88 else ""
		return (city, st, typ, house, korpus, flat)

	def email_for(self, p):
		"""An e-mail address made from the name (the maiden name if any) or a nickname."""
		rng = self.rng
		g = translit(p.given, "informal").lower()
		f = translit(p.maiden or p.family, "informal").lower()
		y = datetime.date.fromordinal(p.birth).year
		k = ri(rng, 0, 7)
		if k == 0:
			local = "%s.%s%02d" % (g, f, y % 100)
		elif k == 1:
			local = "%s.%s" % (f, g)
		elif k == 2:
			local = "%s.%s%d" % (g[0], f, y)
		elif k == 3:
			local = "%s%d" % (f, ri(rng, 1, 999))
		elif k == 4:
			local = "%s_%s" % (g, f)
		elif k == 5:
			local = "%s%s%02d" % (g, f, y % 100)
		elif k == 6:
			local = "%s%d" % (D.NICK_WORDS[ri(rng, 0, len(D.NICK_WORDS) - 1)], ri(rng, 1, 2020))
		else:
			local = "%s-%s" % (f, g[0])
		return local.replace("'", "") + "@" + self.domain.pick(rng)

	def handle(self, p):
		"""A VK / Telegram handle made from the name or a nickname."""
		rng = self.rng
		g = translit(p.given, "informal").lower()
		f = translit(p.family, "informal").lower()
		k = ri(rng, 0, 3)
		if k == 0:
			return "%s_%s" % (g, f)
		if k == 1:
			return "%s%s%d" % (g[0], f, ri(rng, 1, 99))
		if k == 2:
			return "%s.%s" % (g, f)
		return "%s%d" % (D.NICK_WORDS[ri(rng, 0, len(D.NICK_WORDS) - 1)], ri(rng, 1, 9999))

	def new_person(self, sex, family, birth, hh, patr=None, given=None):
		"""A person with identifiers; address, landline and city come from the household."""
		rng = self.rng
		p = Person()
		p.pid = self.next_pid
		self.next_pid += 1
		p.sex = sex
		p.family = family
		p.maiden = None
		p.given = given or self.given(sex)
		p.patr = patr or patronymic(self.male.pick(rng), sex)
		p.birth = birth
		age = (REF_ORD - birth) // 365
		p.household = hh
		p.city, p.addr, p.landline = hh["city"], hh["addr"], hh["landline"]
		p.old_addr = self.address(p.city if rng.random() < 0.7 else self.city.pick(rng)[0]) \
			if rng.random() < RATE["moved_person"] else None
		p.guardian = None
		p.mobile = self.mobile() if age >= 12 and rng.random() < (0.97 if age >= 16 else 0.7) else None
		p.old_mobile = self.mobile() if p.mobile and rng.random() < RATE["old_phone_person"] else None
		p.email = self.email_for(p) if age >= 14 and rng.random() < 0.55 else None
		p.snils = make_snils(rng) if rng.random() < (0.95 if age >= 5 else 0.8) else None
		p.oms = make_oms(rng, _OMS_REGION.get(p.city, "%02d" % ri(rng, 1, 99))) \
			if rng.random() < 0.97 else None
		p.vk = self.handle(p) if 14 <= age <= 60 and rng.random() < 0.3 else None
		if p.vk and rng.random() < 0.4:
			p.vk = "id%d" % ri(rng, 100000, 999999999)
		p.telegram = self.handle(p) if 14 <= age <= 70 and rng.random() < 0.25 else None
		hh["members"].append(p)
		return p

	def new_household(self, kind):
		"""An empty household of a kind: city, address, maybe a landline."""
		rng = self.rng
		city, _w, code, _lat = self.city.pick(rng)
		landline = None
		if rng.random() < 0.35:
			landline = code + "%0*d" % (10 - len(code), ri(rng, 0, 10 ** (10 - len(code)) - 1))
			if landline[len(code)] == "0":
				landline = landline[:len(code)] + "2" + landline[len(code) + 1:]
		self.next_hh += 1
		return {"id": self.next_hh, "kind": kind, "city": city, "addr": self.address(city), "landline": landline,
				"members": []}

	def children(self, hh, father_given, family_m, mother_birth, n, twins):
		"""n children of a mother born at mother_birth; the first two are twins when asked."""
		rng = self.rng
		kids = []
		mother_age = (REF_ORD - mother_birth) // 365
		if mother_age < 19:
			return kids
		prev_birth = None
		for i in range(n):
			sex = "M" if rng.random() < 0.51 else "F"
			if twins and i == 1:
				birth = prev_birth
				given = self.given(sex)
				while any(k.given == given for k in kids):
					given = self.given(sex)
			else:
				# the mother was 19 to 40 when the child was born; siblings never share a given name
				age = mother_age - ri(rng, 19, min(40, mother_age))
				birth = REF_ORD - age * 365 - ri(rng, 0, 364) - age // 4
				given = self.given(sex)
				while any(k.given == given for k in kids):
					given = self.given(sex)
			fam = family_m if sex == "M" else feminine_surname(family_m)
			kid = self.new_person(sex, fam, birth, hh, patr=patronymic(father_given, sex), given=given)
			prev_birth = birth
			kids.append(kid)
		return kids

	def household_persons(self):
		"""Draw one household and return its persons (the truth)."""
		rng = self.rng
		kind = self.household.pick(rng)
		if kind == "namesake" and not self.recent:
			kind = "single"
		hh = self.new_household(kind)
		st = self.stats["households"]
		st[kind] = st.get(kind, 0) + 1
		if kind == "single":
			sex = "M" if rng.random() < 0.46 else "F"
			p = self.new_person(sex, self.family_name(sex), self.birth_adult(), hh)
			self.remember(p)
		elif kind == "namesake":
			# a new person with the name of a recent one and the same birth year
			o = self.recent[ri(rng, 0, len(self.recent) - 1)]
			y = datetime.date.fromordinal(o.birth).year
			birth = datetime.date(y, 1, 1).toordinal() + ri(rng, 0, 364)
			patr = o.patr if rng.random() < 0.5 else None
			self.new_person(o.sex, o.family, birth, hh, patr=patr, given=o.given)
		elif kind in ("couple", "family"):
			hb = self.birth_adult(20, 90)
			husband = self.new_person("M", self.family_name("M"), hb, hh)
			wb = max(min(hb + ri(rng, -6 * 365, 12 * 365), REF_ORD - 18 * 365), REF_ORD - 95 * 365)
			wife = self.new_person("F", feminine_surname(husband.family), wb, hh)
			if rng.random() < 0.85:
				wife.maiden = self.family_name("F")
			else:
				wife.family = self.family_name("F")
			if rng.random() < 0.05 and husband.mobile:
				wife.guardian = husband		# she sometimes gives his number
			self.remember(husband)
			self.remember(wife)
			if kind == "family":
				n = 1 + (rng.random() < 0.55) + (rng.random() < 0.2)
				twins = n >= 2 and rng.random() < 0.06
				if twins:
					st["twins"] = st.get("twins", 0) + 1
					hh["kind"] = "family_twins"
				for k in self.children(hh, husband.given, husband.family, wb, n, twins):
					self.settle_child(k, wife if rng.random() < 0.7 else husband)
		elif kind == "single_parent":
			mb = self.birth_adult(20, 70)
			mother = self.new_person("F", self.family_name("F"), mb, hh)
			self.remember(mother)
			n = 1 + (rng.random() < 0.35)
			for k in self.children(hh, self.male.pick(rng), surname_male_of(mother.family), mb, n, False):
				self.settle_child(k, mother)
		else:  # father_son: «Иван Иванович Петров» and his son of the same full name
			fb = self.birth_adult(40, 85)
			given = self.male.pick(rng)
			father = self.new_person("M", self.family_name("M"), fb, hh, patr=patronymic(given, "M"),
									 given=given)
			age = (REF_ORD - fb) // 365
			sa = ri(rng, max(age - 45, 0), age - 20)
			sb = REF_ORD - sa * 365 - ri(rng, 0, 364) - sa // 4
			son = self.new_person("M", father.family, sb, hh, patr=patronymic(given, "M"), given=given)
			if (REF_ORD - sb) // 365 < 14:
				son.guardian = father
			if rng.random() < 0.4:
				son.addr = self.address(hh["city"])		# grown-up son lives elsewhere
				son.landline = None
			self.remember(father)
		return hh["members"]

	def settle_child(self, k, parent):
		"""A child under 18 gives a parent's phone at times; 60% of those 23 and over live elsewhere."""
		age = (REF_ORD - k.birth) // 365
		if age < 18:
			k.guardian = parent
		elif age >= 23 and self.rng.random() < 0.6:
			k.addr = self.address(k.city)
			k.landline = None

	def remember(self, p):
		"""Keep a ring of recent adults to copy names from (namesakes)."""
		if len(self.recent) < 2000:
			self.recent.append(p)
		else:
			self.recent[ri(self.rng, 0, 1999)] = p

	# -- rendering of records ------------------------------------------------------------------

	def source_id(self, source):
		"""A unique, scrambled per-source id (no order to leak the truth)."""
		self.src_counter[source] += 1
		n = (self.src_counter[source] * 2654435761 + _SOURCE_OFFSET[source]) % 1000000000
		return {"reception": "R%09d", "doctors_desk": "DD-%09d", "lab": "LAB%09d",
				"call_centre": "CC%09d", "sick_leave": "9%011d", "partner_lab": "PL-%09d"}[source] % n

	def records(self, p):
		"""All the source records of a person, as lists in COLUMNS order."""
		rng = self.rng
		age = (REF_ORD - p.birth) // 365
		n = self.nrec.pick(rng)
		self.stats["hist"][n] += 1
		self.stats["persons"] += 1
		out = []
		for _ in range(n):
			src = self.source.pick(rng)
			if src == "sick_leave" and not (16 <= age <= 75):
				src = "reception"
			self.stats["sources"][src] += 1
			out.append(self.render(p, src, age))
		self.stats["records"] += n
		return out

	def pick_phone(self, p, age):
		"""The phone a record gets: own (maybe the old one), the guardian's, or the landline."""
		rng = self.rng
		owner = p
		if p.mobile is None or (p.guardian is not None and rng.random() < 0.5):
			owner = p.guardian or p
		if owner.mobile is None:
			return owner.landline
		if owner.landline and rng.random() < 0.1:
			return owner.landline
		if owner.old_mobile and rng.random() < RATE["old_phone_record"]:
			self.cor._note("old_phone")
			return owner.old_mobile
		return owner.mobile

	def render(self, p, src, age):
		"""One record of person p written by source src (see doc/generator.md for the habits)."""
		rng = self.rng
		cor = self.cor
		row = [""] * 17
		row[0] = src
		row[1] = self.source_id(src)
		row[2] = str(p.pid)
		fam = p.family
		if p.maiden and rng.random() < RATE["maiden_record"]:
			fam = p.maiden
			cor._note("maiden_name")
		given, patr = p.given, p.patr
		bd = datetime.date.fromordinal(p.birth)
		y, m, d = bd.year, bd.month, bd.day
		if rng.random() < RATE["day_month_swap"] and d <= 12 and d != m:
			m, d = d, m
			cor._note("day_month_swap")
		date_digit = rng.random() < RATE["date_digit"]
		phone = self.pick_phone(p, age)
		if phone and rng.random() < RATE["phone_digit"]:
			phone = cor.digit(phone, "phone_digit")
		swap = rng.random() < RATE["swap_names"]
		if swap:
			cor._note("swap_names")
		addr = p.addr
		if p.old_addr and rng.random() < RATE["old_address_record"]:
			addr = p.old_addr
			cor._note("old_address")

		if src in ("reception", "doctors_desk", "call_centre", "sick_leave"):
			yo = 0.5 if src == "reception" else RATE["yo_to_e"]
			fam_c = cor.name(fam, yo)
			giv_c = cor.name(given, yo)
			pat_c = cor.name(patr, yo)
			if swap:
				fam_c, giv_c = giv_c, fam_c
			r = rng.random()
			if r < RATE["upper_case"]:
				fam_c, giv_c, pat_c = fam_c.upper(), giv_c.upper(), pat_c.upper()
				cor._note("upper_case")
			elif r < RATE["upper_case"] + RATE["lower_case"]:
				fam_c, giv_c, pat_c = fam_c.lower(), giv_c.lower(), pat_c.lower()
				cor._note("lower_case")
			if src == "reception":
				self.name_parts(row, fam_c, giv_c, pat_c, full_rate=0.08, no_patr=0.05, initials=0.02)
				self.birth(row, y, m, d, date_digit, iso_rate=0.2, missing=0.02)
				row[8] = ("М" if p.sex == "M" else "Ж") if rng.random() < 0.9 else ""
				if phone and rng.random() < 0.9:
					row[9] = fmt_phone(phone, ri(rng, 0, 6))
				if p.email and rng.random() < 0.3:
					row[10] = self.email(p)
				self.ids(row, p, snils_rate=0.7, oms_rate=0.85)
				self.place(row, addr, rng.random() < 0.85, rng.random() < 0.85)
				if p.vk and rng.random() < 0.1:
					row[15] = self.vk(p)
				if p.telegram and rng.random() < 0.1:
					row[16] = self.tg(p)
			elif src == "doctors_desk":
				self.name_parts(row, fam_c, giv_c, pat_c, full_rate=0.85, no_patr=0.08, initials=0.15)
				self.birth(row, y, m, d, date_digit, iso_rate=0.7, missing=0.05)
				if rng.random() < 0.6:
					row[8] = "М" if p.sex == "M" else "Ж"
				if phone and rng.random() < 0.6:
					row[9] = fmt_phone(phone, ri(rng, 0, 6))
				self.ids(row, p, snils_rate=0.2, oms_rate=0.6)
				self.place(row, addr, rng.random() < 0.3, rng.random() < 0.4)
			elif src == "call_centre":
				# name and phone only; the name as the caller said it
				k = rng.random()
				if k < 0.4:
					row[6] = "%s %s" % (giv_c, fam_c)
				elif k < 0.6:
					row[6] = "%s %s" % (giv_c, pat_c)
				elif k < 0.8:
					row[6] = "%s %s %s" % (fam_c, giv_c, pat_c)
				else:
					row[4], row[3] = giv_c, (fam_c if rng.random() < 0.6 else "")
				if phone:
					row[9] = fmt_phone(phone, ri(rng, 0, 6))
				if rng.random() < 0.2:
					row[14] = self.city_name(addr[0])
			else:  # sick_leave: name and SNILS only
				row[3], row[4], row[5] = fam_c, giv_c, pat_c
				row[11] = self.snils(p.snils) if p.snils else ""
		else:
			# lab: ICAO 2013 Latin in upper case; partner_lab: informal or GOST-ish, mixed case
			if src == "lab":
				scheme = "icao"
			else:
				k = rng.random()
				scheme = "informal" if k < 0.45 else "informal2" if k < 0.6 else "gost" if k < 0.85 else "icao"
			fam_c = cor.name(fam, 1.0)
			giv_c = cor.name(given, 1.0)
			fam_l = translit(fam_c, scheme)
			giv_l = translit(giv_c, scheme)
			pat_l = translit(patr, scheme)
			if rng.random() < RATE["typo"]:
				fam_l = cor.typo(fam_l, latin=True)
			if swap:
				fam_l, giv_l = giv_l, fam_l
			upper = src == "lab" or rng.random() < 0.3
			if upper:
				fam_l, giv_l, pat_l = fam_l.upper(), giv_l.upper(), pat_l.upper()
			row[3], row[4] = fam_l, giv_l
			if rng.random() < (0.4 if src == "lab" else 0.25):
				row[5] = pat_l
			self.birth(row, y, m, d, date_digit, iso_rate=0.95 if src == "lab" else 0.5, missing=0.02)
			if rng.random() < 0.9:
				row[8] = "M" if p.sex == "M" else "F"
			if phone and rng.random() < (0.5 if src == "lab" else 0.7):
				row[9] = fmt_phone(phone, ri(rng, 0, 6))
			if p.email and rng.random() < (0.6 if src == "lab" else 0.7):
				row[10] = self.email(p)
			self.ids(row, p, snils_rate=0.1, oms_rate=0.4 if src == "lab" else 0.3)
			if rng.random() < 0.3:
				city = addr[0]
				lat = next(c[3] for c in D.CITIES if c[0] == city)
				row[14] = lat.upper() if upper else lat
			if src == "partner_lab" and p.telegram and rng.random() < 0.1:
				row[16] = self.tg(p)
		return row

	def name_parts(self, row, fam, giv, pat, full_rate, no_patr, initials):
		"""Write the name as three parts or as one full_name, maybe without patronymic or as initials."""
		rng = self.rng
		cor = self.cor
		if rng.random() < no_patr:
			pat = ""
			cor._note("no_patronymic")
		if rng.random() < initials and giv:
			cor._note("initials")
			gi = giv.strip()[:1] + "."
			pi = (pat.strip()[:1] + ".") if pat else ""
			if rng.random() < full_rate:
				row[6] = "%s %s%s" % (fam, gi, pi)
			else:
				row[3], row[4], row[5] = fam, gi, pi
			return
		if rng.random() < full_rate:
			k = rng.random()
			if k < 0.85 or not pat:
				row[6] = " ".join(x for x in (fam, giv, pat) if x)
			else:
				row[6] = "%s %s %s" % (giv, pat, fam)
		else:
			row[3], row[4], row[5] = fam, giv, pat

	def birth(self, row, y, m, d, digit, iso_rate, missing):
		"""The birth_date column: maybe missing, ISO or Russian format, maybe with a wrong digit."""
		rng = self.rng
		if rng.random() < missing:
			return
		s = fmt_date(y, m, d, rng.random() < iso_rate)
		if digit:
			# a wrong digit of the day, the month or the last two of the year that still gives a
			# valid past date (systems refuse years like 0958, so those never reach a file)
			pos = [2, 3, 5, 6, 8, 9] if "-" in s else [0, 1, 3, 4, 8, 9]
			for _ in range(5):
				t = self.cor.digit(s, None, pos)
				try:
					if "-" in t:
						datetime.date(int(t[:4]), int(t[5:7]), int(t[8:10]))
					else:
						datetime.date(int(t[6:10]), int(t[3:5]), int(t[:2]))
				except ValueError:
					continue
				if int(t[:4] if "-" in t else t[6:10]) <= REF_DATE.year:
					s = t
					self.cor._note("date_digit")
					break
		row[7] = s

	def ids(self, row, p, snils_rate, oms_rate):
		"""The snils and oms columns, each written at its rate, maybe with a typo."""
		rng = self.rng
		if p.snils and rng.random() < snils_rate:
			row[11] = self.snils(p.snils)
		if p.oms and rng.random() < oms_rate:
			o = p.oms
			if rng.random() < RATE["oms_typo"]:
				o = self.cor.digit(o, "oms_typo")
			row[12] = o if rng.random() < 0.85 else "%s %s %s %s" % (o[:4], o[4:8], o[8:12], o[12:])

	def snils(self, s):
		"""A SNILS as written: maybe a typo, one of three formats."""
		if self.rng.random() < RATE["snils_typo"]:
			s = self.cor.digit(s, "snils_typo")
		return fmt_snils(s, 0 if self.rng.random() < 0.6 else 1 if self.rng.random() < 0.75 else 2)

	def email(self, p):
		"""The person's e-mail as written: maybe a typo or a capital first letter."""
		e = p.email
		rng = self.rng
		if rng.random() < RATE["email_typo"]:
			at = e.index("@")
			e = self.cor.typo(e[:at], latin=True) + e[at:]
			self.cor._note("email_typo")
		if rng.random() < 0.03:
			e = e[0].upper() + e[1:]
		return e

	def vk(self, p):
		"""The VK handle as written: bare, vk.com/... or https://vk.com/..."""
		k = ri(self.rng, 0, 2)
		return (p.vk, "vk.com/" + p.vk, "https://vk.com/" + p.vk)[k]

	def tg(self, p):
		"""The Telegram handle as written: @name, name or t.me/name."""
		k = ri(self.rng, 0, 2)
		return ("@" + p.telegram, p.telegram, "t.me/" + p.telegram)[k]

	def city_name(self, city):
		"""A city as written: its name or one of its usual variants."""
		rng = self.rng
		v = D.CITY_VARIANTS.get(city)
		if v and rng.random() < 0.4:
			return v[ri(rng, 0, len(v) - 1)]
		return city

	def place(self, row, addr, with_addr, with_city):
		"""Address and city columns, the address in one of five shapes."""
		rng = self.rng
		city, st, typ, house, korpus, flat = addr
		if with_city:
			row[14] = self.city_name(city)
		if not with_addr:
			return
		k = ri(rng, 0, 4)
		flat_s = flat if flat and rng.random() < 0.93 else ""
		if k == 0:
			s = "г. %s, %s %s, д. %s%s%s" % (city, typ, st, house, ", корп. " + korpus if korpus else "",
											", кв. " + flat_s if flat_s else "")
		elif k == 1:
			s = "%s, %s %s, д %s%s%s" % (city, typ.rstrip("."), st, house, " к" + korpus if korpus else "",
										", кв " + flat_s if flat_s else "")
		elif k == 2:
			s = "%s %s, д. %s%s%s" % (typ, st, house, " корп. " + korpus if korpus else "",
									  ", кв. " + flat_s if flat_s else "")
		elif k == 3:
			s = "%s %s, %s%s%s" % (st, typ, house, "к" + korpus if korpus else "", "-" + flat_s if flat_s else "")
		else:
			s = "%s %s %s%s%s" % (D.STREET_TYPE_LONG[typ], st, house, "/" + korpus if korpus else "",
								 " " + flat_s if flat_s else "")
		row[13] = s


def surname_male_of(s):
	"""The male form of a female surname (Иванова -> Иванов); children of a single mother."""
	if s.endswith(("ова", "ева", "ёва", "ина", "ына")):
		return s[:-1]
	if s.endswith(("ская", "цкая")):
		return s[:-2] + "ий"
	if s.endswith("ая"):
		return s[:-2] + "ой"
	return s


_LATIN_CITY = {c[0]: c[3] for c in D.CITIES}


# sparsify: sparse mode: cut a rendered record down to the name only (SPARSE_NAME_ONLY) or to the
# name and the person's city (SPARSE_NAME_CITY), by its own rng so that the records underneath are
# those of the default mode; a cut record loses its patronymic at SPARSE_NO_PATRONYMIC. The city is
# written in Latin by the Latin sources (lab, partner_lab), else as the clerks write it.
def sparsify(row, p, rng, stats):
	r = rng.random()
	if r >= D.SPARSE_NAME_ONLY + D.SPARSE_NAME_CITY:
		stats["sparse_full"] = stats.get("sparse_full", 0) + 1
		return
	city = ""
	if r >= D.SPARSE_NAME_ONLY:
		c = p.addr[0]
		if row[0] in ("lab", "partner_lab"):
			city = _LATIN_CITY[c]
		else:
			v = D.CITY_VARIANTS.get(c)
			city = v[ri(rng, 0, len(v) - 1)] if v and rng.random() < 0.3 else c
		stats["sparse_name_city"] = stats.get("sparse_name_city", 0) + 1
	else:
		stats["sparse_name_only"] = stats.get("sparse_name_only", 0) + 1
	for i in range(7, len(COLUMNS)):
		row[i] = ""
	row[14] = city
	if rng.random() < D.SPARSE_NO_PATRONYMIC:
		if row[5]:
			row[5] = ""
		elif row[6]:
			parts = row[6].split(" ")
			if len(parts) == 3:		# Фамилия Имя Отчество -> Фамилия Имя
				row[6] = " ".join(parts[:2])


# generate: write the CSV; returns the generator (for its statistics).
# family_col: when given, an extra last column with "<family id>:<kind>" (see doc/generator.md);
# it is truth too, so a matcher must not see it (accuracy --ignore). mode: one of MODES.
def generate(persons, seed, out, truth_col="person_id", buffer_rows=50000, family_col=None, mode="default"):
	gen = Generator(seed, mode)
	shuffle_rng = random.Random(seed * 7919 + 1)
	sparse_rng = random.Random(seed * 104729 + 7) if mode == "sparse" else None
	header = list(COLUMNS)
	header[2] = truth_col
	if family_col:
		header.append(family_col)
	w = csv.writer(out, lineterminator="\n")
	w.writerow(header)
	buf = []
	while gen.next_pid <= persons:
		for p in gen.household_persons():
			if p.pid > persons:
				continue
			recs = gen.records(p)
			if sparse_rng is not None:
				for r in recs:
					sparsify(r, p, sparse_rng, gen.stats)
			if family_col:
				fam = "%d:%s" % (p.household["id"], p.household["kind"])
				for r in recs:
					r.append(fam)
			buf.extend(recs)
		if len(buf) >= buffer_rows:
			# shuffle within a window so that neighbouring rows do not tell who belongs together
			shuffle_rng.shuffle(buf)
			w.writerows(buf)
			buf = []
	shuffle_rng.shuffle(buf)
	w.writerows(buf)
	return gen


# main: the command line (see the module docstring).
def main(argv=None):
	ap = argparse.ArgumentParser(description="Deterministic Russian clinic population with known truth "
									 "(see doc/generator.md).")
	ap.add_argument("--persons", type=int, required=True, help="number of persons (>= 1)")
	ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
	ap.add_argument("--out", required=True, help="output CSV file ('-' for stdout)")
	ap.add_argument("--truth-col", default="person_id", help="name of the truth column")
	ap.add_argument("--family-col", help="add a truth column of this name: the family drawn together, "
					"as <id>:<kind> (single, couple, family, family_twins, single_parent, namesake, father_son)")
	ap.add_argument("--mode", choices=MODES, default="default",
					help="population: default; name-dense (the few hundred commonest names at steep "
					"frequencies, about 1.98 records per person); sparse (many records with a name only, "
					"or a name and a city)")
	ap.add_argument("--quiet", action="store_true", help="no summary on stderr")
	a = ap.parse_args(argv)
	if a.persons < 1:
		ap.error("--persons must be at least 1")
	t0 = time.time()
	if a.out == "-":
		gen = generate(a.persons, a.seed, sys.stdout, a.truth_col, family_col=a.family_col, mode=a.mode)
	else:
		with open(a.out, "w", encoding="utf-8", newline="") as f:
			gen = generate(a.persons, a.seed, f, a.truth_col, family_col=a.family_col, mode=a.mode)
	dt = time.time() - t0
	if not a.quiet:
		st = gen.stats
		e = sys.stderr
		print("gen_clinic: %d persons, %d records in %.1f s (%.0f records/s), seed %d, mode %s"
			  % (st["persons"], st["records"], dt, st["records"] / max(dt, 1e-9), a.seed, a.mode), file=e)
		if a.mode == "sparse":
			print("  sparse records:     " + ", ".join("%s %d" % (k[7:], st.get(k, 0)) for k in
													  ("sparse_name_only", "sparse_name_city", "sparse_full")), file=e)
		print("  records per person: " + ", ".join("%d: %d" % (k, st["hist"][k]) for k in range(1, 7)), file=e)
		print("  records by source:  " + ", ".join("%s %d" % kv for kv in st["sources"].items()), file=e)
		print("  households:         " + ", ".join("%s %d" % kv for kv in sorted(st["households"].items())),
			  file=e)
		print("  corruptions:        " + ", ".join("%s %d" % kv for kv in sorted(gen.cor.count.items())),
			  file=e)
	return 0


if __name__ == "__main__":
	sys.exit(main())
