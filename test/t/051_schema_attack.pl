# test/t/051_schema_attack.pl: CREATE EXTENSION cdp refuses a schema cdp that someone else could
# have prepared or could change later.
#
# cdp.control says schema = cdp, and CREATE EXTENSION uses an existing schema of that name as it
# is.  The attack, as a database owner who is not a superuser would try it: create schema cdp
# first and plant in it an overload the install's own calls prefer (register_source calls
# cdp.append_event with an integer subject, so cdp.append_event(text, integer, bigint, jsonb) is
# a better match than the real (text, bigint, bigint, jsonb)); or, owning the schema, rename it
# after the install and put a fake cdp.upsert_record in its place.  The install now accepts
# schema cdp only when it is empty, owned by a superuser (the installer, when CREATE EXTENSION
# creates it) and nobody else may create objects in it (sql/parts/00_schema.sql; a restore
# creates the schema first, as the superuser, see test/t/030_dump_restore.pl).  See
# doc/security.md.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('schema_attack');
$node->init;
$node->start;
$node->safe_psql('postgres', q{CREATE ROLE clinic_owner LOGIN});
my @owner = (extra_params => [ '-U', 'clinic_owner' ]);

sub fresh_db
{
	my ($db) = @_;
	# each attack starts from a database owner that is not a superuser, whatever the last one did
	$node->safe_psql('postgres', "ALTER ROLE clinic_owner NOSUPERUSER; CREATE DATABASE $db OWNER clinic_owner");
	$node->safe_psql($db, q{
		CREATE TABLE public.planted_ran (fn text NOT NULL);
		GRANT INSERT ON public.planted_ran TO PUBLIC;
	}, @owner);
}

sub planter_is_superuser
{
	return $node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'clinic_owner'});
}

sub installed
{
	my ($db) = @_;
	return $node->safe_psql($db, q{SELECT count(*) FROM pg_extension WHERE extname = 'cdp'});
}

# 1. the database owner creates schema cdp with a planted overload of append_event
fresh_db('planted');
$node->safe_psql('planted', q{
	CREATE SCHEMA cdp;
	CREATE FUNCTION cdp.append_event(kind text, subject integer, golden_id bigint, payload jsonb) RETURNS bigint
		LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.planted_ran (fn) VALUES ('cdp.append_event(text, integer, bigint, jsonb)');
		EXECUTE 'ALTER ROLE clinic_owner SUPERUSER';
		RETURN 0;
	END $$;
}, @owner);
my ($ret, $out, $err) = $node->psql('planted', 'CREATE EXTENSION cdp');
isnt($ret, 0, 'CREATE EXTENSION refuses a schema cdp prepared by the database owner');
like($err, qr/ERROR:  schema "cdp" is not safe for extension "cdp"/, 'with a message naming the schema');
like($err, qr/HINT:  .*DROP SCHEMA cdp/, 'and a hint telling the DBA what to do');
# had it been accepted, the first register_source runs the planted overload as the superuser
if (installed('planted'))
{
	$node->psql('planted', q{SELECT cdp.register_source('reception')});
}
is($node->safe_psql('planted', q{SELECT count(*) FROM public.planted_ran}), '0', 'the planted overload never ran');
is(planter_is_superuser(), 'f', 'and its author is not a superuser');

# 2. an empty schema cdp of the database owner: it could rename the schema after the install and
# put a fake cdp.upsert_record in its place
fresh_db('renamed');
$node->safe_psql('renamed', 'CREATE SCHEMA cdp', @owner);
($ret, $out, $err) = $node->psql('renamed', 'CREATE EXTENSION cdp');
isnt($ret, 0, 'CREATE EXTENSION refuses an empty schema cdp owned by the database owner');
like($err, qr/DETAIL:  .*owned by role "clinic_owner", which is not a superuser/, 'the detail names the owner');
if (installed('renamed'))
{
	$node->psql('renamed', q{
		ALTER SCHEMA cdp RENAME TO cdp_moved;
		CREATE SCHEMA cdp;
		CREATE FUNCTION cdp.upsert_record(source text, source_id text, attrs jsonb, lenient boolean DEFAULT false)
			RETURNS bigint LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.planted_ran (fn) VALUES ('cdp.upsert_record');
			EXECUTE 'ALTER ROLE clinic_owner SUPERUSER';
			RETURN 0;
		END $$;
	}, @owner);
	$node->psql('renamed', q{SELECT cdp.upsert_record('reception', 'r1', '{}')});
}
is($node->safe_psql('renamed', q{SELECT count(*) FROM public.planted_ran}), '0', 'no fake upsert_record ran');
is(planter_is_superuser(), 'f', 'and its author is not a superuser');

# 3. a schema cdp the superuser made, but in which the database owner may create objects
fresh_db('granted');
$node->safe_psql('granted', 'CREATE SCHEMA cdp; GRANT CREATE ON SCHEMA cdp TO clinic_owner');
($ret, $out, $err) = $node->psql('granted', 'CREATE EXTENSION cdp');
isnt($ret, 0, 'CREATE EXTENSION refuses a schema cdp in which another role may create objects');
like($err, qr/DETAIL:  Role "clinic_owner" may create objects in it/, 'the detail names the role');

# 4. a schema cdp of the superuser that is not empty
fresh_db('notempty');
$node->safe_psql('notempty', 'CREATE SCHEMA cdp; CREATE TABLE cdp.leftover (x int)');
($ret, $out, $err) = $node->psql('notempty', 'CREATE EXTENSION cdp');
isnt($ret, 0, 'CREATE EXTENSION refuses a schema cdp that already holds objects');
like($err, qr/DETAIL:  .*already holds objects/, 'the detail says why');

# 5. what stays possible: the schema CREATE EXTENSION makes (in a transaction or a savepoint, as
# psql's ON_ERROR_ROLLBACK does), and an empty one a superuser made first, as pg_restore does
fresh_db('plain');
$node->safe_psql('plain', 'BEGIN; SAVEPOINT s; CREATE EXTENSION cdp; RELEASE s; COMMIT');
is(installed('plain'), '1', 'CREATE EXTENSION inside a savepoint creates its schema and installs');
fresh_db('restored');
$node->safe_psql('restored', q{
	CREATE SCHEMA cdp;
	ALTER SCHEMA cdp OWNER TO CURRENT_USER;
	COMMENT ON SCHEMA cdp IS 'as a dump writes it';
	GRANT USAGE ON SCHEMA cdp TO PUBLIC;
});
$node->safe_psql('restored', 'CREATE EXTENSION IF NOT EXISTS cdp WITH SCHEMA cdp');
is(installed('restored'), '1', 'an empty schema cdp made by a superuser first (a restore) is accepted');

# 6. after a clean install the database owner can neither rename schema cdp nor create in it
($ret, $out, $err) = $node->psql('plain', 'ALTER SCHEMA cdp RENAME TO cdp_moved', @owner);
like($err, qr/must be owner of schema cdp/, 'the database owner cannot rename schema cdp');
($ret, $out, $err) = $node->psql('plain', q{
	CREATE FUNCTION cdp.append_event(kind text, subject integer, golden_id bigint, payload jsonb) RETURNS bigint
		LANGUAGE sql AS 'SELECT 0::bigint'}, @owner);
like($err, qr/permission denied for schema cdp/, 'nor plant an overload in it');
$node->safe_psql('plain', q{SELECT cdp.register_source('reception')});
is($node->safe_psql('plain', q{SELECT count(*) FROM public.planted_ran}), '0', 'nothing planted ran');
is(planter_is_superuser(), 'f', 'the database owner is not a superuser at the end');

$node->stop;
done_testing();
