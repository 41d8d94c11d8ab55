-- test/demo/demo.sql: the clinic demo (grows with every family).
CREATE EXTENSION cdp;
\echo 'cdp' `SELECT 1` 'installed'
SELECT cdp.library_version() AS "cdp library version";
