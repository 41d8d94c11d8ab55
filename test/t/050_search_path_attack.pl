# test/t/050_search_path_attack.pl: the owner of schema public (in PostgreSQL 15 the database
# owner, through pg_database_owner) cannot get code of theirs run by a superuser who ingests.
#
# A function of the extension that names a function or operator without a schema resolves it
# through the caller's search_path ("$user", public by default).  pg_catalog is searched first,
# but when its candidate is polymorphic (unnest(anyarray), anycompatiblearray || ...) an exact
# match planted in public wins.  The attack, as a database owner who is not a superuser would try
# it: plant public.unnest(text[]) (upsert_records) and public.||(text[], text[])
# (golden_clinical_columns, behind upsert_clinical_event), each making its author a superuser; a
# superuser then ingests.  Pinned search_paths (SET search_path = pg_catalog, pg_temp on every
# SQL and PL/pgSQL function) keep public out of reach; test/sql/00_install.sql lists any function
# left without one.  See doc/security.md.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('search_path_attack');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE clinic_owner LOGIN;
	CREATE DATABASE clinic OWNER clinic_owner;
});
$node->safe_psql('clinic', q{
	CREATE EXTENSION cdp;
	SELECT cdp.register_source('reception', 'internal', 80);
});

# what the database owner may do in its own database: create objects in public
my @owner = (extra_params => [ '-U', 'clinic_owner' ]);
is($node->safe_psql('clinic', q{SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'}),
	'pg_database_owner', 'schema public belongs to the database owner (PostgreSQL 15)');
$node->safe_psql('clinic', q{
	CREATE TABLE public.planted_ran (fn text NOT NULL, by_role text NOT NULL DEFAULT current_user);
	GRANT INSERT ON public.planted_ran TO PUBLIC;

	-- a better match than pg_catalog.unnest(anyarray) for a text[] argument
	CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.planted_ran (fn) VALUES ('unnest(text[])');
		EXECUTE 'ALTER ROLE clinic_owner SUPERUSER';
		RETURN QUERY SELECT pg_catalog.unnest(a);
	END $$;

	-- a better match than pg_catalog.||(anycompatiblearray, anycompatiblearray) for two text[]
	CREATE FUNCTION public.planted_cat(a text[], b text[]) RETURNS text[] LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.planted_ran (fn) VALUES ('||(text[], text[])');
		EXECUTE 'ALTER ROLE clinic_owner SUPERUSER';
		RETURN pg_catalog.array_cat(a, b);
	END $$;
	CREATE OPERATOR public.|| (LEFTARG = text[], RIGHTARG = text[], FUNCTION = public.planted_cat);
}, @owner);
is($node->safe_psql('clinic', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'clinic_owner'}), 'f',
	'the planter is not a superuser before the ingest');

# a superuser ingests, with the default search_path ("$user", public), through each entry point
$node->safe_psql('clinic', q{
	SELECT cdp.upsert_record('reception', 'r1', '{"family_name": "Иванова", "given_name": "Мария", "birth_date": "1980-02-03"}');
	SELECT count(*) FROM cdp.upsert_records('reception', ARRAY['r2', 'r3'],
		ARRAY['{"family_name": "Петров", "given_name": "Олег"}', '{"family_name": "Сидоров", "given_name": "Ян"}']::jsonb[]);
	SELECT cdp.upsert_clinical_event('reception', 'v1', 'visit',
		'{"record_source_id": "r1", "at": "2024-02-01T10:00:00+03:00", "status": "done", "type": "first"}');
	SELECT cdp.run_matching('incremental');
});
is($node->safe_psql('clinic', q{SELECT count(*) FROM cdp.record}), '3', 'the ingest itself worked');
is($node->safe_psql('clinic', q{SELECT count(*) FROM cdp.clinical_event}), '1', 'and so did the clinical event');

is($node->safe_psql('clinic', q{SELECT coalesce(string_agg(DISTINCT fn, ', ' ORDER BY fn), '') FROM public.planted_ran}),
	'', 'no function planted in public ran inside the extension');
is($node->safe_psql('clinic', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'clinic_owner'}), 'f',
	'the planter is still not a superuser');

$node->stop;
done_testing();
