"""test/bench/accuracy_lib/staging.py: turn any CSV into the accuracy tool's staging CSV.

The staging CSV has four leading columns (row number, source name, source key, truth label) and
then one column per remaining input column (the record's attributes), with clean, unique column
names that PostgreSQL accepts. Empty values are written unquoted so that COPY reads them as NULL
(and upsert_record never sees the key). Works on files it has never seen: any delimiter, a space
after every delimiter (FEBRL), blank or repeated header names, ragged rows.
"""

import csv
import re

# Internal column names of the staging table; no input column may take them.
INTERNAL = ["__cdp_rn", "__cdp_src", "__cdp_key", "__cdp_truth"]
MAX_IDENT_BYTES = 60	# PostgreSQL truncates identifiers at 63 bytes; keep room for a suffix


class StagingError(Exception):
	"""A problem with the input file or the column options, for the user to fix."""


# clean_names: header names made unique, non-empty and short enough for PostgreSQL.
def clean_names(header):
	out, seen = [], set()
	for i, h in enumerate(header):
		name = h.strip()
		if not name or name.startswith("__cdp_"):
			name = "col_%d" % (i + 1)
		b = name.encode("utf-8")
		if len(b) > MAX_IDENT_BYTES:
			name = b[:MAX_IDENT_BYTES].decode("utf-8", "ignore")
		base, k = name, 2
		while name in seen:
			name = "%s_%d" % (base, k)
			k += 1
		seen.add(name)
		out.append(name)
	return out


# stage_csv: read `infile` (text), write the staging CSV to `outfile`; returns a summary dict.
# sep: delimiter; skip_initial_space: True/False, or None to detect (every header name after the
# first starts with a space); id_col/truth_col/source_col: input column names (id_col None: the
# row number is the key; source_col None: every row belongs to source_name); limit: rows to read.
# ignore: more columns to leave out of the attributes. group_col: a column of group labels (e.g. the
# generator's families), written as a fifth leading column and left out of the attributes.
# truth_regex: when given, the truth label is its first group (or whole match) in the truth value,
# e.g. 'rec-(\d+)' for FEBRL's rec-12-org / rec-12-dup-0.
def stage_csv(infile, outfile, sep, skip_initial_space, id_col, truth_col, source_col, source_name, limit,
			  truth_regex=None, ignore=(), group_col=None):
	truth_re = re.compile(truth_regex) if truth_regex else None
	first = infile.readline()
	if not first:
		raise StagingError("the input file is empty")
	if first.startswith("\ufeff"):
		first = first[1:]
	raw_header = next(csv.reader([first], delimiter=sep))
	if skip_initial_space is None:
		skip_initial_space = len(raw_header) > 1 and all(h.startswith(" ") for h in raw_header[1:])
	names = clean_names(raw_header)
	index = {}
	for raw, name in zip(raw_header, names):
		index.setdefault(raw.strip(), names.index(name))
		index.setdefault(name, names.index(name))

	def col(opt, what):
		if opt is None:
			return None
		if opt not in index:
			raise StagingError("%s column \"%s\" is not in the file; its columns are: %s"
							   % (what, opt, ", ".join(names)))
		return index[opt]

	id_i = col(id_col, "id")
	truth_i = col(truth_col, "truth")
	src_i = col(source_col, "source")
	skip = {i for i in (id_i, truth_i, src_i) if i is not None}
	skip.update(col(c, "ignored") for c in ignore)
	group_i = col(group_col, "group")
	if group_i is not None:
		skip.add(group_i)
	attr_i = [i for i in range(len(names)) if i not in skip]
	reader = csv.reader(infile, delimiter=sep, skipinitialspace=skip_initial_space)
	w = csv.writer(outfile, lineterminator="\n")
	rows = ragged = 0
	sources = {}
	ncol = len(names)
	for rec in reader:
		if not rec or (len(rec) == 1 and not rec[0].strip()):
			continue
		if limit is not None and rows >= limit:
			break
		rows += 1
		if len(rec) != ncol:
			ragged += 1
			rec = (rec + [""] * ncol)[:ncol]
		src = rec[src_i].strip() if src_i is not None else source_name
		if not src:
			src = source_name
		key = rec[id_i].strip() if id_i is not None else str(rows)
		if not key:
			raise StagingError("row %d has an empty id in column \"%s\"" % (rows, id_col))
		sources[src] = sources.get(src, 0) + 1
		truth = rec[truth_i].strip() if truth_i is not None else ""
		if truth and truth_re is not None:
			m = truth_re.search(truth)
			truth = (m.group(1) if m.groups() else m.group(0)) if m else ""
		if not truth:
			truth = "__cdp_row_%d" % rows	# no truth: a person of its own
		lead = [rows, src, key, truth]
		if group_i is not None:
			lead.append(rec[group_i].strip() or "__cdp_row_%d" % rows)
		w.writerow(lead + [rec[i] for i in attr_i])
	if rows == 0:
		raise StagingError("the input file has a header but no rows")
	return {"rows": rows, "group": group_i is not None, "columns": names, "attr_columns": [names[i] for i in attr_i],
			"skip_initial_space": skip_initial_space, "ragged_rows": ragged, "sources": sources}
