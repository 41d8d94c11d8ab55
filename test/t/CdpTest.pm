# test/t/CdpTest.pm: what several TAP tests of cdp check the same way (not a test itself: prove
# runs only test/t/*.pl).  Use with: use FindBin; use lib $FindBin::Bin; use CdpTest;
package CdpTest;
use strict;
use warnings;
use Exporter 'import';
our @EXPORT = qw($projections_differ_sql);

# How far the golden projections are from a replay of the whole log: profiles both ways,
# membership intervals both ways, records whose open interval names another person, and records
# whose person has no profile.  0 when the projections are exactly what the log says.
our $projections_differ_sql = q{
	WITH m AS (SELECT coalesce(jsonb_agg(jsonb_build_array(golden_id, record_id)), '[]') AS j
	             FROM cdp_internal.golden_membership_from_log() WHERE to_event IS NULL),
	     replay AS (SELECT p.* FROM m, cdp_internal.golden_replay('infinity', 9223372036854775807, m.j) p)
	SELECT (SELECT count(*) FROM (SELECT * FROM cdp.patient EXCEPT SELECT * FROM replay) x)
	     + (SELECT count(*) FROM (SELECT * FROM replay EXCEPT SELECT * FROM cdp.patient) x)
	     + (SELECT count(*) FROM ((SELECT * FROM cdp.patient_member EXCEPT SELECT * FROM cdp_internal.golden_membership_from_log())
	                              UNION ALL (SELECT * FROM cdp_internal.golden_membership_from_log() EXCEPT SELECT * FROM cdp.patient_member)) x)
	     + (SELECT count(*) FROM cdp.record r JOIN cdp.patient_member l ON l.record_id = r.record_id AND l.to_event IS NULL
	         WHERE l.golden_id <> r.golden_id)
	     + (SELECT count(*) FROM cdp.record r WHERE NOT EXISTS (SELECT 1 FROM cdp.patient p WHERE p.golden_id = r.golden_id))
};

1;
