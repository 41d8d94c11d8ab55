/*
 * sql/cdp--0.2.0--0.3.0.sql: update 0.2.0 to 0.3.0.  Written by hand: each section below carries
 * exactly the change of one piece of work, in the order the install script (sql/parts) creates it.
 * Once 0.3.0 is released this file is frozen; a later change ships cdp--0.3.0--<next>.sql.
 * test/t/060_update.pl proves that the catalog after this update equals a fresh 0.3.0 install and
 * that the data is intact.
 */
\echo Use "ALTER EXTENSION cdp UPDATE TO '0.3.0'" to load this file. \quit

/* ==== section: types and text (issue 16 items found already, issue 17) ==== */

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
