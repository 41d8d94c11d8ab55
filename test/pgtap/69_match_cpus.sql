-- test/pgtap/69_match_cpus.sql: _match_cpus, the parts a full run's walk may use (issue 12, session
-- 32): the processors online on the server's machine, fewer under a container's CPU quota (cgroup
-- v2 cpu.max, v1 cpu.cfs_quota_us over cpu.cfs_period_us, the smallest over the server's cgroup and
-- its ancestors).  The oracle below reads the same files through pg_read_file, in SQL, and computes
-- the count on its own: on a machine without a quota it is the processors online, under one the
-- quota's share rounded up.
BEGIN;
SELECT plan(3);

CREATE FUNCTION pg_temp.cpu_oracle() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	online int := 0;
	best int := 0;
	part text;
	line text;
	ctl text;
	path text;
	mnt text;
	dir text;
	q text;
	per text;
	n int;
	mounts text[];
BEGIN
	-- what sysconf(_SC_NPROCESSORS_ONLN) counts: "0-3,6,8-9"
	FOREACH part IN ARRAY pg_catalog.string_to_array(pg_catalog.btrim(COALESCE(pg_catalog.pg_read_file('/sys/devices/system/cpu/online', 0, 4096, true), ''), E' \n'), ',') LOOP
		IF part ~ '^\d+-\d+$' THEN
			online := online + pg_catalog.split_part(part, '-', 2)::int - pg_catalog.split_part(part, '-', 1)::int + 1;
		ELSIF part ~ '^\d+$' THEN
			online := online + 1;
		END IF;
	END LOOP;
	-- "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1)
	FOR line IN SELECT x FROM pg_catalog.regexp_split_to_table(COALESCE(pg_catalog.pg_read_file('/proc/self/cgroup', 0, 65536, true), ''), E'\n') x WHERE x <> '' LOOP
		ctl := pg_catalog.split_part(line, ':', 2);
		path := pg_catalog.substr(line, pg_catalog.length(pg_catalog.split_part(line, ':', 1)) + pg_catalog.length(ctl) + 3);
		IF ctl = '' THEN
			mounts := ARRAY['/sys/fs/cgroup'];
		ELSIF 'cpu' = ANY (pg_catalog.string_to_array(ctl, ',')) THEN
			mounts := ARRAY['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpuacct,cpu'];
		ELSE
			CONTINUE;
		END IF;
		FOREACH mnt IN ARRAY mounts LOOP
			dir := path;
			LOOP
				n := 0;
				IF ctl = '' THEN
					q := pg_catalog.btrim(pg_catalog.pg_read_file(mnt || CASE WHEN dir = '/' THEN '' ELSE dir END || '/cpu.max', 0, 4096, true), E' \n');
					IF q IS NOT NULL AND pg_catalog.split_part(q, ' ', 1) <> 'max' THEN
						n := GREATEST(pg_catalog.ceil(pg_catalog.split_part(q, ' ', 1)::numeric / pg_catalog.split_part(q, ' ', 2)::numeric), 1);
					END IF;
				ELSE
					q := pg_catalog.btrim(pg_catalog.pg_read_file(mnt || CASE WHEN dir = '/' THEN '' ELSE dir END || '/cpu.cfs_quota_us', 0, 4096, true), E' \n');
					per := pg_catalog.btrim(pg_catalog.pg_read_file(mnt || CASE WHEN dir = '/' THEN '' ELSE dir END || '/cpu.cfs_period_us', 0, 4096, true), E' \n');
					IF q IS NOT NULL AND per IS NOT NULL AND q::numeric > 0 AND per::numeric > 0 THEN
						n := GREATEST(pg_catalog.ceil(q::numeric / per::numeric), 1);
					END IF;
				END IF;
				IF n > 0 AND (best = 0 OR n < best) THEN
					best := n;
				END IF;
				EXIT WHEN dir = '/' OR dir = '';
				dir := pg_catalog.regexp_replace(dir, '/[^/]*$', '');
				IF dir = '' THEN
					dir := '/';
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
	RETURN CASE WHEN online = 0 THEN NULLIF(best, 0) WHEN best > 0 THEN LEAST(online, best) ELSE online END;
END $$;

SELECT ok(cdp_internal._match_cpus() >= 1, 'the server has at least one processor to use');
SELECT is(cdp_internal._match_cpus(), pg_temp.cpu_oracle(), 'the processors online, or the cgroup CPU quota''s share when it is smaller');
SELECT ok(LEAST(cdp_internal._match_nparts(), COALESCE(cdp_internal._match_cpus(), 8), 8) <= cdp_internal._match_cpus(),
          'a full run walks in no more parts than that');

SELECT * FROM finish();
ROLLBACK;
