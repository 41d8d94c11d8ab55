# test/t/021_match_crash.pl: kill -9 the server inside matching and check that nothing of the
# killed work survives and nothing is lost.  cdp.run_matching is one transaction (keys, block and
# score walk, link plan, cdp.link_records_many, review queue, queue clean-up, match_run row), so a
# crash anywhere in it must leave every table exactly as it was, and a later run must end where an
# uninterrupted run ends.  Each kill lands at a known point: a third session holds what the step
# needs, and pg_stat_activity / pg_locks confirm that the run waits there before the kill.
#   1. match_record on a record a second desk is keying, while ingest changes another record
#   2. run_matching('full') after every link and review is written, waiting for ingest's queue row
#   3. run_matching('full') in link_records_many, waiting for a record an ingest is changing
#      (here kill -9 of the run's backend alone; the others: an immediate shutdown)
#   4. run_maintenance's incremental run in link_records_many, waiting for a held profile row
#   5. run_matching('full') in the parallel walk: workers wait for cdp_internal.match_tf
# Then run_matching('full') runs to completion, and membership, events, redirects, profiles and
# review queue equal those of an uninterrupted run on a copy of the database made before the first
# kill.  Then, without a crash: a record an ingest changes while a full run works stays queued, and
# two desks can look up one queued record at once.  Last, run_maintenance, which commits in parts
# (the matching increment, then golden batches), killed between them (issue 6).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;
use FindBin;
use lib $FindBin::Bin;
use CdpTest;

my $node = PostgreSQL::Test::Cluster->new('match_crash');
$node->init;
# no autovacuum: nothing else connects to the template database, and nothing moves between checks;
# the postmaster recovers by itself when a backend is killed; two workers per Gather so that a trained full run walks its blocks in three parallel parts
$node->append_conf('postgresql.conf', q{
autovacuum = off
restart_after_crash = on
max_parallel_workers_per_gather = 2
max_parallel_workers = 8
max_worker_processes = 8
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE crash');

# A small clinic with known duplicates: 1500 persons with a 'his' record; two in three also have a
# 'lab' record (an initial for the given name, a birth date one day off, a missing phone); one in
# 40 has a relative sharing name and phone, born 9000 days earlier (forced by the phone, vetoed by
# the birth date: review); one in 100 has a no_match decision (decided by people), one in 120 a
# twin relation (held).  Ten surnames and ten given names make blocks big enough for training to
# count more than 10 candidate pairs per record under a rule of the two names, so a trained full
# run walks in parallel.
$node->safe_psql('crash', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('his', 'internal', 80);
	SELECT cdp.register_source('lab', 'partner', 60);
	CREATE TEMP TABLE p AS
	SELECT i,
	       (ARRAY['Иванов','Петров','Сидоров','Смирнов','Кузнецов','Попов','Соколов','Лебедев','Козлов','Новиков'])[1 + i % 10] AS fam,
	       (ARRAY['Иван','Пётр','Сергей','Андрей','Алексей','Дмитрий','Михаил','Николай','Павел','Олег'])[1 + (i / 10) % 10] AS giv,
	       (ARRAY['Иванович','Петрович','Сергеевич','Андреевич','Алексеевич','Дмитриевич','Михайлович'])[1 + (i / 100) % 7] AS pat,
	       date '1950-01-01' + (i * 7919) % 20000 AS dob,
	       '+7916' || lpad((1000000 + i * 13)::text, 7, '0') AS phone
	  FROM generate_series(1, 1500) i;
	SELECT count(*) FROM cdp.upsert_records('his', ARRAY(SELECT 'h' || i FROM p ORDER BY i),
		ARRAY(SELECT jsonb_build_object('family_name', fam, 'given_name', giv, 'patronymic', pat,
		                                'birth_date', dob::text, 'phones', jsonb_build_array(phone)) FROM p ORDER BY i));
	SELECT count(*) FROM cdp.upsert_records('lab', ARRAY(SELECT 'l' || i FROM p WHERE i % 3 <> 0 ORDER BY i),
		ARRAY(SELECT jsonb_build_object('family_name', fam,
		                                'given_name', CASE WHEN i % 6 = 1 THEN left(giv, 1) || '.' ELSE giv END,
		                                'patronymic', pat,
		                                'birth_date', (CASE WHEN i % 9 = 1 THEN dob + 1 ELSE dob END)::text,
		                                'phones', CASE WHEN i % 5 = 1 THEN '[]'::jsonb ELSE jsonb_build_array(phone) END)
		        FROM p WHERE i % 3 <> 0 ORDER BY i));
	SELECT count(*) FROM cdp.upsert_records('his', ARRAY(SELECT 'f' || i FROM p WHERE i % 40 = 0 ORDER BY i),
		ARRAY(SELECT jsonb_build_object('family_name', fam, 'given_name', giv, 'patronymic', pat,
		                                'birth_date', (dob - 9000)::text, 'phones', jsonb_build_array(phone))
		        FROM p WHERE i % 40 = 0 ORDER BY i));
	CREATE TEMP TABLE id AS SELECT source_key, record_id FROM cdp.record;
	SELECT count(cdp.record_pair_decision(h.record_id, l.record_id, 'no_match', 'test'))
	  FROM p JOIN id h ON h.source_key = 'h' || i JOIN id l ON l.source_key = 'l' || i WHERE i % 100 = 1;
	SELECT cdp.relate_records(h.record_id, l.record_id, 'twin')
	  FROM p JOIN id h ON h.source_key = 'h' || i JOIN id l ON l.source_key = 'l' || i WHERE i % 120 = 40;
});
# the default document with the rules it shipped before session 40 (test/fixtures/match_former_rules.sql),
# whose rule of the family and the given name alone blocks this clinic's namesakes in blocks big enough
# for a parallel walk (the shipped rules block about 3 pairs per record here)
$node->safe_psql('crash', slurp_file("$FindBin::Bin/../fixtures/match_former_rules.sql")
	. 'SELECT cdp.configure_matching(pg_temp.former_rules());');
is($node->safe_psql('crash', 'SELECT count(*) FROM cdp.record'), '2537', 'the clinic is loaded');

# the uninterrupted reference: a copy made now, trained and matched in one go
$node->safe_psql('postgres', 'CREATE DATABASE ref TEMPLATE crash');
$node->safe_psql('ref', q{SELECT cdp.train_matching(); SELECT cdp.run_matching('full')});
note('reference run: ', $node->safe_psql('ref', q{SELECT result - 'times' FROM cdp_internal.match_run}));

# the golden projections against a replay of the log (CdpTest), plus: every record has exactly one
# open membership
my $equal_sql = $projections_differ_sql . q{
	     + (SELECT count(*) FROM cdp.record r
	         WHERE (SELECT count(*) FROM cdp.patient_member l WHERE l.record_id = r.record_id AND l.to_event IS NULL) <> 1)
};

# Everything a run or a lookup may write, table by table, with the indexes of the key tables (a full
# re-key drops and rebuilds the match_block indexes inside its transaction).  After a crash every
# line must be what it was before the killed work started.
my $state_sql = q{
	SELECT string_agg(t || ' ' || h, E'\n' ORDER BY t) FROM (
	          SELECT 'record' t, md5(coalesce(string_agg(x::text, ',' ORDER BY x.record_id), '')) h FROM cdp.record x
	UNION ALL SELECT 'event', md5(coalesce(string_agg(x::text, ',' ORDER BY x.event_id), '')) FROM cdp.event x
	UNION ALL SELECT 'patient', md5(coalesce(string_agg(x::text, ',' ORDER BY x.golden_id), '')) FROM cdp.patient x
	UNION ALL SELECT 'patient_member', md5(coalesce(string_agg(x::text, ',' ORDER BY x.record_id, x.from_event), '')) FROM cdp.patient_member x
	UNION ALL SELECT 'patient_redirect', md5(coalesce(string_agg(x::text, ',' ORDER BY x.old_id), '')) FROM cdp.patient_redirect x
	UNION ALL SELECT 'golden_state', md5(coalesce(string_agg(x::text, ','), '')) FROM cdp_internal.golden_state x
	UNION ALL SELECT 'match_queue', md5(coalesce(string_agg(x::text, ',' ORDER BY x.record_id), '')) FROM cdp_internal.match_queue x
	UNION ALL SELECT 'match_review', md5(coalesce(string_agg(x::text, ',' ORDER BY x.pair_id), '')) FROM cdp_internal.match_review x
	UNION ALL SELECT 'match_run', md5(coalesce(string_agg(x::text, ',' ORDER BY x.run_id), '')) FROM cdp_internal.match_run x
	UNION ALL SELECT 'match_key', md5(coalesce(string_agg(x::text, ',' ORDER BY x.record_id), '')) FROM cdp_internal.match_key x
	UNION ALL SELECT 'match_block', md5(coalesce(string_agg(x::text, ',' ORDER BY x.bk, x.record_id), '')) FROM cdp_internal.match_block x
	UNION ALL SELECT 'match_suspicious', md5(coalesce(string_agg(x::text, ',' ORDER BY x.attr, x.value), '')) FROM cdp_internal.match_suspicious x
	UNION ALL SELECT 'match_settings', md5(coalesce(string_agg(x::text, ',' ORDER BY x.version), '')) FROM cdp_internal.match_settings x
	UNION ALL SELECT 'match_tf', md5(coalesce(string_agg(x::text, ',' ORDER BY x.version, x.comp, x.value), '')) FROM cdp_internal.match_tf x
	UNION ALL SELECT 'pair_decision', md5(coalesce(string_agg(x::text, ',' ORDER BY x.record_a, x.record_b), '')) FROM cdp.pair_decision x
	UNION ALL SELECT 'household', md5(coalesce(string_agg(x::text, ',' ORDER BY x.record_a, x.record_b), '')) FROM cdp_internal.household x
	UNION ALL SELECT 'indexes', string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
	           WHERE schemaname = 'cdp' AND tablename IN ('match_key', 'match_block')) s
};

# an interactive psql session fed statement by statement; waits for $marker in its output
sub session
{
	my ($name) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('crash') . " application_name=$name" ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	return \%s;
}

sub send_until
{
	my ($s, $sql, $marker) = @_;
	$s->{in} .= "$sql\n";
	pump_until($s->{h}, IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default), \$s->{out}, qr/$marker/)
	  or die "session never printed $marker: $s->{err}";
}

# one statement in the background; finish() tells whether it succeeded, err holds its messages
sub background
{
	my ($name, $sql) = @_;
	my %s = (out => '', err => '');
	$s{h} = IPC::Run::start([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('crash') . " application_name=$name", '-c', $sql ],
		'>', \$s{out}, '2>', \$s{err});
	return \%s;
}

# A session named $name waits for a lock held by the session named $holder, and holds the locks of
# its current step: @$granted are [relation, mode] pairs it must hold, @$absent relations it must
# not have touched yet.
sub waits_sql
{
	my ($name, $holder, $granted, $absent) = @_;
	my $sql = qq{
		SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
		 WHERE a.application_name = '$name' AND a.backend_type = 'client backend' AND a.wait_event_type = 'Lock'
		   AND (SELECT h.pid FROM pg_stat_activity h WHERE h.application_name = '$holder') = ANY (pg_blocking_pids(a.pid))};
	$sql .= qq{
		   AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
		                  AND l.relation = '$_->[0]'::regclass AND l.mode = '$_->[1]')} for @$granted;
	$sql .= qq{
		   AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation = '$_'::regclass)} for @$absent;
	return "$sql)";
}

# kill -9 while the sessions wait, and restart
sub crash_and_restart
{
	my (@procs) = @_;
	$node->stop('immediate');
	for my $p (@procs)
	{
		# an interactive session waits on its input: kill it; a one-statement psql ends by itself
		if (exists $p->{in}) { $p->{h}->kill_kill; }
		else { $p->{h}->finish; }
	}
	$node->start;
}

# crash and restart, and check that the state is the one before.  $victim: kill -9 only the
# backend of the session so named; the postmaster then resets every other backend and recovers by
# itself (restart_after_crash), as after the OOM killer.  Otherwise an immediate shutdown.
sub crash_and_check
{
	my ($what, $before, $victim, @procs) = @_;
	if ($victim)
	{
		my $pid = $node->safe_psql('crash',
			"SELECT pid FROM pg_stat_activity WHERE application_name = '$victim' AND backend_type = 'client backend'");
		kill 'KILL', $pid or die "could not kill $pid";
		# the other sessions go with the reset: wait until none is left and the server is back
		$node->poll_query_until('crash', q{
			SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('run', 'maint', 'ingest', 'holder', 'desk_a', 'desk_b')}, '0')
		  or die 'the server did not come back after the backend was killed';
		for my $p (@procs)
		{
			if (exists $p->{in}) { $p->{h}->kill_kill; }
			else { $p->{h}->finish; }
		}
	}
	else
	{
		crash_and_restart(@procs);
	}
	is($node->safe_psql('crash', $state_sql), $before, "$what: every table and index as before the killed work");
	is($node->safe_psql('crash', $equal_sql), '0', "$what: projections and membership equal a replay of the log");
	is($node->safe_psql('crash', q{
		SELECT (SELECT count(*) FROM cdp_internal.match_run) || ' ' || (SELECT count(*) FROM cdp.event WHERE kind IN ('patient.merged', 'record.linked'))
		       || ' ' || (SELECT count(*) FROM cdp.patient_redirect) || ' ' || (SELECT count(*) FROM cdp_internal.match_review)}),
		'0 0 0 0', "$what: no finished run, link event, redirect or review pair survives");
	is($node->safe_psql('crash', q{SELECT count(*) FROM pg_class WHERE relname LIKE '\_cdp\_%'}), '0',
		"$what: no work table of the killed run is left");
}

my $rec = sub { $node->safe_psql('crash', "SELECT record_id FROM cdp.record WHERE source_key = '$_[0]'") };
my $before = $node->safe_psql('crash', $state_sql);
is($node->safe_psql('crash', $equal_sql), '0', 'before: projections equal the replay');
is($node->safe_psql('crash', 'SELECT count(*) FROM cdp_internal.match_queue'), '2537', 'every record waits in the queue');

# 1. match_record while ingest runs: desk A keyed record h7 in an open transaction, desk B looks it
# up too and waits for A's key row; meanwhile an ingest of h8 is in flight.
{
	my $ingest = session('ingest');
	send_until($ingest, q{BEGIN; SELECT count(*) FROM cdp.upsert_records('his', ARRAY['h8'],
		ARRAY['{"family_name": "Иванов", "given_name": "Иван", "birth_date": "1970-01-01"}'::jsonb]); SELECT 'held';}, 'held');
	my $h7 = $rec->('h7');
	my $desk_a = session('desk_a');
	send_until($desk_a, "BEGIN; SELECT count(*) FROM cdp.match_record($h7); SELECT 'held';", 'held');
	ok($node->safe_psql('crash', q{
		SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		 WHERE a.application_name = 'desk_a' AND l.relation = 'cdp_internal.match_key'::regclass AND l.mode = 'RowExclusiveLock'}) == 1,
		'desk A keyed the record in its open transaction');
	my $desk_b = background('desk_b', "SELECT count(*) FROM cdp.match_record($h7)");
	$node->poll_query_until('crash', waits_sql('desk_b', 'desk_a', [ [ 'cdp_internal.match_key', 'RowExclusiveLock' ] ], []))
	  or die 'desk B never waited for desk A';
	crash_and_check('match_record', $before, undef, $ingest, $desk_a, $desk_b);
}

# 2. run_matching('full') (untrained: serial walk; every record keyed from scratch, the match_block
# indexes dropped and rebuilt) waits at its very end: every link and review row is written, and the
# queue clean-up waits for the queue row of h3 (a person with no candidate), which an ingest holds.
{
	my $ingest = session('ingest');
	send_until($ingest, q{BEGIN; SELECT count(*) FROM cdp.upsert_records('his', ARRAY['h3'],
		ARRAY['{"family_name": "Сидоров", "given_name": "Иван", "birth_date": "1960-01-01"}'::jsonb]); SELECT 'held';}, 'held');
	my $run = background('run', q{SELECT cdp.run_matching('full')});
	$node->poll_query_until('crash', waits_sql('run', 'ingest',
		[ [ 'cdp.event', 'RowExclusiveLock' ], [ 'cdp.patient_redirect', 'RowExclusiveLock' ],
		  [ 'cdp_internal.match_review', 'RowExclusiveLock' ], [ 'cdp_internal.match_queue', 'RowExclusiveLock' ] ], []))
	  or die 'run_matching never reached the queue clean-up';
	crash_and_check('full run after links and reviews', $before, undef, $ingest, $run);
}

# 3. run_matching('full') waits in cdp.link_records_many for record h4 (linked with l4), which an
# ingest is changing: the plan is made, no golden table is written yet.
{
	my $ingest = session('ingest');
	send_until($ingest, q{BEGIN; SELECT count(*) FROM cdp.upsert_records('his', ARRAY['h4'],
		ARRAY['{"family_name": "Петров", "given_name": "Иван", "birth_date": "1960-01-01"}'::jsonb]); SELECT 'held';}, 'held');
	my $run = background('run', q{SELECT cdp.run_matching('full')});
	$node->poll_query_until('crash', waits_sql('run', 'ingest',
		[ [ 'cdp_internal.match_key', 'AccessExclusiveLock' ], [ 'cdp.record', 'RowShareLock' ] ], [ 'cdp.event', 'cdp_internal.match_review' ]))
	  or die 'run_matching never reached the link step';
	crash_and_check('full run in the link step (kill -9 of its backend)', $before, 'run', $ingest, $run);
}

# 4. run_maintenance: its matching increment (incremental mode: the queue read FOR UPDATE SKIP
# LOCKED) waits in cdp.link_records_many for the profile row of h2's person, held by a third
# session; maintenance commits nothing before the increment returns.
{
	my $holder = session('holder');
	my $g = $node->safe_psql('crash', q{SELECT golden_id FROM cdp.record WHERE source_key = 'h2'});
	send_until($holder, "BEGIN; SELECT 1 FROM cdp.patient WHERE golden_id = $g FOR UPDATE; SELECT 'held';", 'held');
	my $maint = background('maint', 'CALL cdp.run_maintenance(100)');
	$node->poll_query_until('crash', waits_sql('maint', 'holder',
		[ [ 'cdp_internal.match_queue', 'RowShareLock' ], [ 'cdp.record', 'RowShareLock' ] ], [ 'cdp.event' ]))
	  or die 'the maintenance increment never reached the link step';
	crash_and_check('maintenance increment in the link step', $before, undef, $holder, $maint);
}

# Training commits on its own; the reference database was trained the same way (training is
# deterministic: fixed seeds), and from here on a full run walks in parallel parts
# (_match_nparts 3, at most one per processor).
$node->safe_psql('crash', 'SELECT cdp.train_matching()');
is($node->safe_psql('crash', q{SELECT md5(s.program::text) || ' ' || cdp_internal._match_nparts() FROM cdp_internal.match_settings s WHERE s.active}),
	$node->safe_psql('ref', q{SELECT md5(s.program::text) || ' ' || cdp_internal._match_nparts() FROM cdp_internal.match_settings s WHERE s.active}),
	'training gives the reference program');
is($node->safe_psql('crash', 'SELECT cdp_internal._match_nparts()'), '3', 'a trained full run walks in 3 parts');
$before = $node->safe_psql('crash', $state_sql);

# 5. run_matching('full') in the parallel walk: a session holds cdp_internal.match_tf (as a VACUUM FULL
# would), which every part loads after the records, so the parallel workers wait inside the walk
# and the leader, which walks no part (issue 12, session 31), waits for them.
{
	my $holder = session('holder');
	send_until($holder, "BEGIN; LOCK TABLE cdp_internal.match_tf IN ACCESS EXCLUSIVE MODE; SELECT 'held';", 'held');
	my $run = background('run', q{SELECT cdp.run_matching('full')});
	# a parallel worker of the run waits for cdp_internal.match_tf, and the leader for its workers,
	# before any link or review (one processor: one part, which the leader walks and waits in)
	$node->poll_query_until('crash', q{
		SELECT CASE WHEN cdp_internal._match_cpus() > 1 THEN
		  (SELECT count(*) >= 1 FROM pg_stat_activity w
		     JOIN pg_locks l ON l.pid = w.pid AND NOT l.granted AND l.relation = 'cdp_internal.match_tf'::regclass
		    WHERE w.backend_type = 'parallel worker'
		      AND w.leader_pid = (SELECT a.pid FROM pg_stat_activity a WHERE a.application_name = 'run' AND a.backend_type = 'client backend'))
		  AND EXISTS (SELECT 1 FROM pg_stat_activity a
		               WHERE a.application_name = 'run' AND a.backend_type = 'client backend' AND a.wait_event_type = 'IPC'
		                 AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid
		                                    AND l.relation IN ('cdp.event'::regclass, 'cdp_internal.match_review'::regclass)))
		ELSE (} . waits_sql('run', 'holder', [], [ 'cdp.event', 'cdp_internal.match_review' ]) . ') END')
	  or die 'run_matching and its parallel workers never waited in the walk';
	pass('run_matching waits in the parallel walk');
	crash_and_check('parallel walk', $before, undef, $holder, $run);
}

# After the crashes: a full run finishes and ends exactly where the uninterrupted run ended.
my $result_sql = q{SELECT result - 'times' FROM cdp_internal.match_run ORDER BY run_id DESC LIMIT 1};
$node->safe_psql('crash', q{SELECT cdp.run_matching('full')});
is($node->safe_psql('crash', $result_sql), $node->safe_psql('ref', $result_sql), 'the run counts equal the reference run');
like($node->safe_psql('crash', $result_sql), qr/"linked": [1-9][0-9]{2},/, 'the run made hundreds of links');
my %final = (
	'membership' => q{SELECT string_agg(record_id || ':' || golden_id, ',' ORDER BY record_id) FROM cdp.record},
	'open memberships' => q{SELECT string_agg(record_id || ':' || golden_id, ',' ORDER BY record_id) FROM cdp.patient_member WHERE to_event IS NULL},
	'closed memberships' => q{SELECT string_agg(record_id || ':' || golden_id, ',' ORDER BY record_id, from_at) FROM cdp.patient_member WHERE to_event IS NOT NULL},
	'redirects' => q{SELECT string_agg(old_id || '>' || new_id, ',' ORDER BY old_id) FROM cdp.patient_redirect},
	'link events' => q{SELECT md5(string_agg(concat_ws(' ', kind, subject, golden_id, payload), ',' ORDER BY event_id)) FROM cdp.event
	                    WHERE kind NOT IN ('source.registered', 'record.created', 'decision.recorded')},
	'profiles' => q{SELECT md5(string_agg((to_jsonb(p) - 'status_at' - 'updated_at')::text, ',' ORDER BY golden_id)) FROM cdp.patient p},
	'review queue' => q{SELECT string_agg(concat_ws(' ', record_a, record_b, score, weight, levels, flags, version, reason, status), E'\n'
	                           ORDER BY record_a, record_b) FROM cdp_internal.match_review},
	# (without queued_at: the two databases queued their records at different times)
	'match keys' => q{SELECT md5(string_agg((x.record_id, x.version, x.flags, x.feat, x.bk)::text, ',' ORDER BY record_id)) FROM cdp_internal.match_key x},
	'queue' => q{SELECT count(*) FROM cdp_internal.match_queue});
for my $k (sort keys %final)
{
	is($node->safe_psql('crash', $final{$k}), $node->safe_psql('ref', $final{$k}), "after the crashes: $k as in the uninterrupted run");
}
ok($node->safe_psql('crash', q{SELECT count(*) FROM cdp_internal.match_review WHERE reason IS NOT NULL}) > 0, 'the review queue holds vetoed pairs');
is($node->safe_psql('crash', $equal_sql), '0', 'after the final run: projections equal the replay');

# 6. No crash: a record that changes while a full run works stays queued.  h3 is queued (changed
# once); an ingest changes it again and holds its queue row, so the full run, having keyed the first
# change, waits at its queue clean-up; the ingest commits.  The run must not remove the entry the
# ingest re-queued (it did: the record kept the features of the first change until settings changed).
{
	$node->safe_psql('crash', q{SELECT count(*) FROM cdp.upsert_records('his', ARRAY['h3'],
		ARRAY['{"family_name": "Волков", "given_name": "Иван", "birth_date": "1960-01-01"}'::jsonb])});
	my $ingest = session('ingest');
	send_until($ingest, q{BEGIN; SELECT count(*) FROM cdp.upsert_records('his', ARRAY['h3'],
		ARRAY['{"family_name": "Зайцев", "given_name": "Иван", "birth_date": "1960-01-01"}'::jsonb]); SELECT 'held';}, 'held');
	my $run = background('run', q{SELECT cdp.run_matching('full')});
	$node->poll_query_until('crash', waits_sql('run', 'ingest', [ [ 'cdp_internal.match_queue', 'RowExclusiveLock' ] ], []))
	  or die 'run_matching never reached the queue clean-up';
	send_until($ingest, "COMMIT; SELECT 'committed';", 'committed');
	ok($run->{h}->finish, 'the full run finished') or diag($run->{err});
	$ingest->{h}->kill_kill;
	my $key_sql = q{SELECT k.feat[1] || ' ' || (SELECT count(*) FROM cdp_internal.match_queue q WHERE q.record_id = k.record_id)
		FROM cdp_internal.match_key k JOIN cdp.record r USING (record_id) WHERE r.source_key = 'h3'};
	is($node->safe_psql('crash', $key_sql), 'волков 1', 'the run keyed the first change and left the second queued');
	$node->safe_psql('crash', 'SELECT cdp.run_matching()');
	is($node->safe_psql('crash', $key_sql), 'зайцев 0', 'the next incremental run keys the second change');
}

# 7. No crash: two desks look up one queued record at once.  Desk A re-keys it in an open
# transaction, desk B waits for A's key row; when A commits, B re-keys it again (it failed with a
# duplicate key in match_key), and the record has one set of block rows.
{
	$node->safe_psql('crash', q{SELECT count(*) FROM cdp.upsert_records('his', ARRAY['h5'],
		ARRAY['{"family_name": "Орлов", "given_name": "Пётр", "birth_date": "1961-02-03"}'::jsonb])});
	my $h5 = $rec->('h5');
	my $desk_a = session('desk_a');
	send_until($desk_a, "BEGIN; SELECT count(*) FROM cdp.match_record($h5); SELECT 'held';", 'held');
	my $desk_b = background('desk_b', "SELECT count(*) FROM cdp.match_record($h5)");
	$node->poll_query_until('crash', waits_sql('desk_b', 'desk_a', [ [ 'cdp_internal.match_key', 'RowExclusiveLock' ] ], []))
	  or die 'desk B never waited for desk A';
	send_until($desk_a, "COMMIT; SELECT 'committed';", 'committed');
	ok($desk_b->{h}->finish, 'the second lookup of a record being keyed succeeds') or diag($desk_b->{err});
	$desk_a->{h}->kill_kill;
	is($node->safe_psql('crash', qq{
		SELECT k.feat[1] || ' ' || ((SELECT array_agg(b.bk ORDER BY b.bk) FROM cdp_internal.match_block b WHERE b.record_id = k.record_id)
		                            = (SELECT array_agg(x ORDER BY x) FROM unnest(k.bk) x WHERE x IS NOT NULL))
		  FROM cdp_internal.match_key k WHERE k.record_id = $h5}), 'орлов true', 'the record has its new key and one block row per blocking key');
}

# 8. run_maintenance commits in parts: its matching increment, then the golden catch-up batch by
# batch.  A new record duplicating h6 is queued and the catch-up is sent back to the start; a
# third session holds a profile row in the middle of the catch-up.  Killed there, the increment's
# link and run row stay, the batches committed stay, and the next maintenance finishes the rest.
{
	$node->safe_psql('crash', q{
		SELECT count(*) FROM cdp.upsert_records('lab', ARRAY['n6'], ARRAY(
			SELECT jsonb_build_object('family_name', family_name, 'given_name', given_name, 'patronymic', patronymic,
			                          'birth_date', birth_date::text, 'phones', to_jsonb(phones::text[]))
			  FROM cdp.record WHERE source_key = 'h6'));
		UPDATE cdp_internal.golden_state SET last_event_id = 0;});
	my $runs = $node->safe_psql('crash', 'SELECT count(*) FROM cdp_internal.match_run');
	my $same = q{SELECT (SELECT golden_id FROM cdp.record WHERE source_key = 'n6') = (SELECT golden_id FROM cdp.record WHERE source_key = 'h6')};
	is($node->safe_psql('crash', $same), 'f', 'the new duplicate is its own person before maintenance');
	my $middle = $node->safe_psql('crash', q{
		SELECT golden_id FROM cdp.patient WHERE golden_id <> (SELECT golden_id FROM cdp.record WHERE source_key = 'h6')
		 ORDER BY golden_id OFFSET 600 LIMIT 1});
	my $holder = session('holder');
	send_until($holder, "BEGIN; SELECT 1 FROM cdp.patient WHERE golden_id = $middle FOR UPDATE; SELECT 'held';", 'held');
	my $maint = background('maint', 'CALL cdp.run_maintenance(100)');
	$node->poll_query_until('crash', waits_sql('maint', 'holder', [], []) . q{ AND (SELECT last_event_id > 0 FROM cdp_internal.golden_state)})
	  or die 'maintenance never reached the held row';
	crash_and_restart($holder, $maint);
	is($node->safe_psql('crash', $same), 't', 'after the crash: the committed increment linked the duplicate');
	is($node->safe_psql('crash', 'SELECT count(*) FROM cdp_internal.match_run'), $runs + 1, 'and its run row stayed');
	my ($ckpt, $top) = split /\|/, $node->safe_psql('crash',
		'SELECT last_event_id, (SELECT max(event_id) FROM cdp.event) FROM cdp_internal.golden_state');
	ok($ckpt > 0 && $ckpt < $top, 'the crash interrupted the catch-up; committed batches stayed');
	is($node->safe_psql('crash', $equal_sql), '0', 'after the crash: projections equal the replay');
	$node->safe_psql('crash', 'CALL cdp.run_maintenance(1000)');
	is($node->safe_psql('crash', 'SELECT last_event_id = (SELECT max(event_id) FROM cdp.event) FROM cdp_internal.golden_state'), 't',
		'the next maintenance finishes the catch-up');
	is($node->safe_psql('crash', $equal_sql), '0', 'and the projections still equal the replay');
}

$node->stop;
done_testing();
