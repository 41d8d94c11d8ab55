# test/t/054_access_probes.pl: the access probes that need a client or the server log (issue 15);
# the rest are in test/pgtap/90_access.sql, and doc/security.md lists them all.
#
#  P28  COPY ... TO STDOUT as a doctor gives only the patients in its care; as a registrar, all
#  P29  objects planted in public by the database owner before CREATE EXTENSION never run, whatever
#       the superuser then calls with the default search_path
#  P30  with cdp.redact_values on and the recommended log settings, a rejected SNILS leaves no digit
#       of it in the server log; with them off, it does
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('access_probes');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE clinic_owner LOGIN;
	CREATE DATABASE clinic OWNER clinic_owner;
});

# ---------------------------------------------------------------- P29: planted before the install
my @owner = (extra_params => [ '-U', 'clinic_owner' ]);
$node->safe_psql('clinic', q{
	CREATE TABLE public.planted_ran (fn text NOT NULL, by_role text NOT NULL DEFAULT current_user);
	GRANT INSERT ON public.planted_ran TO PUBLIC;
	CREATE FUNCTION public.planted(fn text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.planted_ran (fn) VALUES (fn);
		EXECUTE 'ALTER ROLE clinic_owner SUPERUSER';
	END $$;
	-- each a better match than pg_catalog's for the arguments cdp's access functions pass
	CREATE FUNCTION public.format(f text, a text) RETURNS text LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('format(text, text)'); RETURN pg_catalog.format(f, a); END $$;
	CREATE FUNCTION public.format(f text, a text, b text) RETURNS text LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('format(text, text, text)'); RETURN pg_catalog.format(f, a, b); END $$;
	CREATE FUNCTION public.array_to_string(a text[], s text) RETURNS text LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('array_to_string(text[], text)'); RETURN pg_catalog.array_to_string(a, s); END $$;
	CREATE FUNCTION public.jsonb_build_object(a text, b text, c text, d text) RETURNS jsonb LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('jsonb_build_object(text x4)'); RETURN pg_catalog.jsonb_build_object(a, b, c, d); END $$;
	CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
	CREATE FUNCTION public.acc_caller() RETURNS text LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('acc_caller()'); RETURN 'cdp_admin'; END $$;
	CREATE FUNCTION public.planted_eq(a bigint, b integer) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN PERFORM public.planted('=(bigint, integer)'); RETURN a::int = b; END $$;
	CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = public.planted_eq);
}, @owner);

# the superuser installs and uses the access family with the default search_path ("$user", public)
$node->safe_psql('clinic', q{
	CREATE EXTENSION cdp;
	SELECT count(*) FROM cdp.setup_roles();
	CREATE ROLE desk LOGIN; CREATE ROLE dr LOGIN;
	SELECT cdp.grant_role('desk', 'cdp_registrar');
	SELECT cdp.grant_role('dr', 'cdp_doctor', '{"specialties": ["кардиолог"]}');
	SELECT cdp.register_source('reception', 'internal', 80);
	SELECT cdp.upsert_record('reception', 'r1', '{"family_name": "Иванова", "birth_date": "1980-02-03", "phone": "+7 916 123-45-67"}');
	SELECT cdp.upsert_record('reception', 'r2', '{"family_name": "Петров", "birth_date": "1990-01-01", "email": "petrov@mail.ru"}');
	SELECT cdp.upsert_clinical_event('reception', 'v1', 'visit', '{"record_source_id": "r1", "at": "2024-02-01", "specialty": "кардиолог"}');
	SELECT cdp.patient_profile(1, 'check');
	SELECT count(*) FROM cdp.masked_patients();
	SELECT count(*) FROM cdp.patient_counts();
	SELECT cdp.pseudonym(1);
	SELECT cdp.contact_address(1, 'sms', 'marketing');
	SELECT cdp.set_legal_hold(2, 'check');
	SELECT cdp.set_legal_hold(2, 'check', false);
	SELECT cdp.erase_patient(2, 'check');
	SELECT count(*) FROM cdp.audit_report(now() - interval '1 day', now() + interval '1 day');
	SELECT cdp.revoke_role('desk', 'cdp_registrar');
	SELECT cdp.grant_role('desk', 'cdp_registrar');
});
is($node->safe_psql('clinic', q{SELECT coalesce(string_agg(DISTINCT fn, ', ' ORDER BY fn), '') FROM public.planted_ran}),
	'', 'P29 superuser: no function or operator planted in public before the install ran');
is($node->safe_psql('clinic', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'clinic_owner'}), 'f',
	'P29 superuser: the planter is still not a superuser');

# ---------------------------------------------------------------- P28: COPY to the client
is($node->safe_psql('clinic', q{SET SESSION AUTHORIZATION dr; COPY (SELECT family_name FROM cdp.patient ORDER BY 1) TO STDOUT}),
	'Иванова', 'P28 cdp_doctor: COPY to the client gives only the patient in its care');
is($node->safe_psql('clinic', q{SET SESSION AUTHORIZATION dr; COPY cdp.patient (family_name) TO STDOUT}),
	'Иванова', 'P28 cdp_doctor: COPY of the whole table likewise');
my ($rc, $out, $err) = $node->psql('clinic', q{SET SESSION AUTHORIZATION desk; COPY cdp.clinical_event TO STDOUT});
like($err, qr/permission denied for table clinical_event/, 'P28 cdp_registrar: COPY of clinical events is refused');
is($node->safe_psql('clinic', q{SET SESSION AUTHORIZATION desk; COPY cdp.patient (family_name) TO STDOUT}),
	"Иванова\nПетров", 'P28+ cdp_registrar: COPY gives both patients (positive control)');

# P31: a login cannot become another (the pgTAP suite runs as a superuser session, which may)
($rc, $out, $err) = $node->psql('clinic', q{SET SESSION AUTHORIZATION clinic_owner}, extra_params => [ '-U', 'desk' ]);
like($err, qr/permission denied to set session authorization/,
	'P31 cdp_registrar: a registrar login cannot SET SESSION AUTHORIZATION to another login');

# P29+: the planted objects do run when a name resolves to them, so the probe above would see it
$node->safe_psql('clinic', q{SELECT public.format('%s', 'x')});
is($node->safe_psql('clinic', q{SELECT string_agg(DISTINCT fn, ', ') FROM public.planted_ran}),
	'format(text, text)', 'P29+ superuser: a planted function that is called runs (positive control)');

# ---------------------------------------------------------------- P30: the server log
# the settings doc/security.md recommends
$node->append_conf('postgresql.conf', qq{
cdp.redact_values = on
log_min_error_statement = panic
log_parameter_max_length_on_error = 0
log_statement = none
});
$node->restart;

my $offset = -s $node->logfile;
$node->psql('clinic', q{SELECT '112-233-445 96'::cdp.snils});
$node->psql('clinic', q{SELECT cdp.upsert_record('reception', 'r9', '{"snils": "112-233-445 96"}')});
$node->psql('clinic', q{SELECT cdp.upsert_record('reception', 'r8', '{"phone": "+7 916 765-43-2x"}')});
my $log = slurp_file($node->logfile, $offset);
like($log, qr/invalid value for type cdp\.snils \(value of 14 bytes not shown\)/, 'P30 superuser: the rejected SNILS is logged');
like($log, qr/record "r9", attrs key "snils"/, 'P30 superuser: and so is the rejected attrs document');
# what the server wrote, without the line prefix (its timestamp and process id hold digits of their own)
my $written = join("\n", map { s/^.*?\b(LOG|ERROR|DETAIL|HINT|CONTEXT|STATEMENT):\s*//r } split /\n/, $log);
unlike($written, qr/112|233|445|should be 95|not 96|765/, 'P30 superuser: with cdp.redact_values on, no digit group of the SNILS or phone is in the log');

# P30+: with the setting off and PostgreSQL's defaults, the same statements put the value in the log
$node->append_conf('postgresql.conf', qq{
cdp.redact_values = off
log_min_error_statement = error
log_parameter_max_length_on_error = -1
});
$node->reload;
$offset = -s $node->logfile;
$node->psql('clinic', q{SELECT '112-233-445 96'::cdp.snils});
$log = slurp_file($node->logfile, $offset);
like($log, qr/112-233-445 96/, 'P30+ superuser: with the setting off, the SNILS is in the log (positive control)');

$node->stop;
done_testing();
