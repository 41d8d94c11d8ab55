#!/bin/sh
# test/fuzz/run.sh: runs every fuzz target for a bounded time, one after the other (one process,
# one job: the machine's cores are shared), and fails on the first crash, leak, sanitizer report,
# oracle failure, slow input or memory blow-up, printing the input that caused it.
#
#   run.sh BUILD_DIR SECONDS TARGET...      (make -C test/fuzz run FUZZ_SECONDS=N calls this)
#
# SECONDS = 0 runs the seed corpus once through each target (a regression run, a few seconds).
# The seeds in test/fuzz/corpus/<target>/ are read, never written: new inputs go to a temporary
# corpus, crash files to a temporary artifact directory (libFuzzer writes them into the current
# directory otherwise). Extra libFuzzer flags: FUZZ_FLAGS="-seed=1 ...".
set -u
build=$1 seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cdp-fuzz.XXXXXX")
keep=
trap '[ -n "$keep" ] || rm -rf "$work"' EXIT

# halt on the first report of any sanitizer, with a stack; LeakSanitizer on (libFuzzer checks
# for leaks after inputs that allocated more than they freed)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=0:allocator_may_return_null=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"

rc=0
for t in "$@"; do
	seeds=$here/corpus/$t
	mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
	if [ "$seconds" -gt 0 ]; then
		mode="-max_total_time=$seconds"
		echo "=== fuzz $t for $seconds s (seeds: $(ls "$seeds" 2>/dev/null | wc -l))"
	else
		mode="-runs=0"
		echo "=== fuzz $t: seed corpus once"
	fi
	dict=
	[ -f "$here/cdp.dict" ] && dict="-dict=$here/cdp.dict"
	# shellcheck disable=SC2086
	(cd "$work/$t" && "$build/$t" $mode $dict -max_len=4096 -timeout=20 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" ${FUZZ_FLAGS:-} \
		"$work/$t/corpus" "$seeds") >"$work/$t/log" 2>&1
	st=$?
	grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' "$work/$t/log"
	found=$(ls "$work/$t/artifacts" 2>/dev/null | head -1)
	if [ $st -ne 0 ] || [ -n "$found" ]; then
		rc=1
		keep=1
		echo "=== FAILED: $t (exit $st)"
		# the report: the shim's finding or the sanitizer's, with the top of the stack
		grep -E -A25 '==cdp-fuzz==|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$work/$t/log" | head -60
		if [ -n "$found" ]; then
			f=$work/$t/artifacts/$found
			echo "--- reproducer: $f ($(wc -c <"$f") bytes)"
			echo "--- hex: $(od -An -tx1 -v "$f" | tr -d ' \n' | head -c 2000)"
			echo "--- rerun: $build/$t $f"
			echo "--- keep it: cp $f $here/corpus/$t/ and fix the kernel (doc/fuzzing.md)"
		else
			tail -30 "$work/$t/log"
		fi
		echo "--- full log: $work/$t/log"
	fi
done
[ $rc -eq 0 ] && echo "=== fuzz: every target passed"
exit $rc
