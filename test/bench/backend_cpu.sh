# test/bench/backend_cpu.sh: sourced by the A/B benchmarks (name_lookup_ab.sh, find_patient_ab.sh).
#
#   backend_cpu LABEL DB SQL
#
# Runs SQL in one new backend of database DB (psql; PGOPTIONS and the server's environment as the
# caller has them) and prints "LABEL: backend CPU <s> s (<SQL's last output line>), load <1-min>":
# the user + system CPU of that backend from /proc/<pid>/stat before and after, which stays
# comparable when the machine is loaded, unlike wall times.  SQL must end by printing one line
# (e.g. SELECT 'done';).  The backend must run on this machine.
backend_cpu() {
	local label=$1 db=$2 sql=$3 pid s0 s1 done
	coproc P { psql -X -q -At -d "$db" 2>&1; }
	echo "SELECT pg_backend_pid();" >&"${P[1]}"
	read -r pid <&"${P[0]}"
	s0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	echo "$sql" >&"${P[1]}"
	read -r done <&"${P[0]}"
	s1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	echo "\\q" >&"${P[1]}"
	wait "$P_PID" 2>/dev/null || true
	echo "$label: backend CPU $(echo "($s1 - $s0) / $(getconf CLK_TCK)" | bc -l | cut -c1-6) s ($done), load $(cut -d' ' -f1 /proc/loadavg)"
}

# put_lib FILE: installs a cdp library as $lib by a rename, never by writing over the file in
# place: a backend (an autovacuum worker analysing a table with a cdp index among them) that has
# the old one mapped keeps its inode; cp over it made such a process die of SIGBUS (session 25)
put_lib() {
	cp "$1" "$lib.new.$$" && mv -f "$lib.new.$$" "$lib"
}
