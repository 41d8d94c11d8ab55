\echo Use "CREATE EXTENSION cmpcall" to load this file. \quit
CREATE FUNCTION cmpcall_ns(fn regprocedure, a text[], b text[], extra text[], rounds int) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cmpcall_ns(regprocedure, text[], text[], text[], int) IS
	'CPU nanoseconds per call of fn(a[i], b[i], extra...) over all pairs, per round';
CREATE FUNCTION cmpcall_sum(fn regprocedure, a text[], b text[], extra text[]) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION cmpcall_sum(regprocedure, text[], text[], text[]) IS
	'the sum of fn(a[i], b[i], extra...) over all pairs';
