-- test/pgtap/00_install.sql: the extension's schema and library are in place.
BEGIN;
SELECT plan(3);
SELECT has_schema('cdp');
SELECT has_function('cdp', 'library_version', ARRAY[]::text[]);
SELECT is(cdp.library_version(), (SELECT extversion FROM pg_extension WHERE extname = 'cdp'),
          'the loaded library and the installed SQL are the same version');
SELECT * FROM finish();
ROLLBACK;
