-- test/bench/ingest_statement_writer.sql: makes the bulk writer of ingest's fast path decline in this
-- database, so every batch of new records is written by the fast path's SQL statement, as before
-- session 23 (cdp_internal.ingest_write_new declines while a table it writes has an insert trigger
-- other than the foreign key check; this one never fires).  For same-run comparisons:
--   IMPORT_AB_SQL=test/bench/ingest_statement_writer.sql test/bench/import_speed.sh ROWS
-- (doc/benchmarks-golden.md, issue 16, session 23).
CREATE TRIGGER bench_statement_writer AFTER INSERT ON cdp_internal.match_queue
	FOR EACH ROW WHEN (false) EXECUTE FUNCTION cdp_internal.event_refuse_change();
