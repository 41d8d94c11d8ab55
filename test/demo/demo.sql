-- test/demo/demo.sql: the clinic demo (grows with every family).
CREATE EXTENSION cdp;
SELECT cdp.library_version() AS "cdp library version";
