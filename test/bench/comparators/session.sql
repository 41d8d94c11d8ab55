-- test/bench/comparators/session.sql: what every timing script of the comparator benchmark sets
-- first (\ir from run.sql and osa_split.sql): one backend, no parallel workers, no JIT, and the
-- backend's own CPU clock.
SET max_parallel_workers_per_gather = 0;
SET jit = off;

-- CPU nanoseconds this backend has run, NULL where /proc/self/schedstat cannot be read
CREATE FUNCTION pg_temp.cpu_ns() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN split_part(pg_catalog.pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END $$;
