/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

/* -- issue 17 (branch first): what people read of a golden profile.  cdp.email now prints its
 * domain in Unicode (the stored form stays ASCII), and the contact flag "valid" is named
 * "confirmed" (validated, or reported by two sources).  The 0.3.0 library already folds profiles
 * that way; the rows folded by 0.2.0 are rewritten here to what the new fold gives (the order of
 * contacts is kept; SELECT cdp.rebuild_patients() refolds everything from the log if wanted). */
UPDATE @extschema@.patient p
   SET phones = n.phones, emails = n.emails, handles = n.handles
  FROM (SELECT q.golden_id, c.*
          FROM @extschema@.patient q,
               LATERAL (SELECT
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                ELSE x.e END ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.phones) WITH ORDINALITY x(e, o)) AS phones,
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           pg_catalog.jsonb_set(
                             CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                    OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                  ELSE x.e END,
                             '{value}', pg_catalog.to_jsonb(((x.e ->> 'value')::@extschema@.email)::text))
                           ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.emails) WITH ORDINALITY x(e, o)) AS emails,
                 (SELECT COALESCE(pg_catalog.jsonb_agg(
                           CASE WHEN x.e ? 'valid' THEN (x.e OPERATOR(pg_catalog.-) 'valid')
                                  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('confirmed', x.e -> 'valid')
                                ELSE x.e END ORDER BY x.o), '[]')
                    FROM pg_catalog.jsonb_array_elements(q.handles) WITH ORDINALITY x(e, o)) AS handles) c
         WHERE pg_catalog.strpos(q.phones::text, '"valid"') > 0 OR pg_catalog.strpos(q.emails::text, '"valid"') > 0
            OR pg_catalog.strpos(q.emails::text, 'xn--') > 0 OR pg_catalog.strpos(q.handles::text, '"valid"') > 0) n
 WHERE p.golden_id = n.golden_id;
/* -- end of issue 17 (branch first) */

/* ==== end of section: types and text ==== */


/* ==== section: name index and find_patient (issue 18) ==== */

/* ==== end of section: name index and find_patient ==== */


/* ==== section: matching (issue 12) ==== */

/* ==== end of section: matching ==== */


/* ==== section: consent, offers and segments (issue 13) ==== */

/* ==== end of section: consent, offers and segments ==== */


/* ==== section: campaigns (issue 14) ==== */

/* ==== end of section: campaigns ==== */


/* ==== section: access (issue 15) ==== */

/* ==== end of section: access ==== */


/* ==== section: import (issue 16) ==== */

/* ==== end of section: import ==== */
