/*-------------------------------------------------------------------------
 *
 * test/fuzz/pg_shim.h
 *		What the libFuzzer targets of cdp get from pg_shim.c: a fresh memory
 *		context per input, a FUZZ_TRY block that catches ereport(ERROR) the
 *		way PG_TRY does, and the last error's SQLSTATE for the oracles.
 *
 * The shim replaces the few backend services the server-free kernels of
 * src/ use (palloc, ereport, the database encoding); see doc/fuzzing.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CDP_FUZZ_PG_SHIM_H
#define CDP_FUZZ_PG_SHIM_H

#include "postgres.h"

#include <setjmp.h>
#include <stdint.h>

/* the SQLSTATE of the last error caught by FUZZ_TRY (0 when none) */
extern int	FuzzLastSqlstate;

/* primary message of the last error caught by FUZZ_TRY */
extern char FuzzLastMessage[];

/* Sets up TopMemoryContext; called once from LLVMFuzzerInitialize. */
extern void FuzzShimInit(void);

/* libFuzzer's set-up hook, defined once here for every target: FuzzShimInit */
extern int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* Starts one input: a fresh "fuzz input" context becomes CurrentMemoryContext. */
extern void FuzzInputBegin(void);

/*
 * Whether every error message raised from now on must be valid UTF-8 (set
 * it when the input itself is valid).
 */
extern void FuzzExpectValidMessages(bool on);

/* Ends one input: deletes its context, so every chunk is free()d. */
extern void FuzzInputEnd(void);

/* Is s[0..len) valid UTF-8 as PostgreSQL defines it (no NUL bytes)? */
extern bool FuzzUtf8Valid(const char *s, int len);

/* Number of code points of valid UTF-8 */
extern int	FuzzUtf8Chars(const char *s, int len);

/* Decodes valid UTF-8 into out (room for len entries); returns the count */
extern int	FuzzUtf8Decode(const char *s, int len, int32 *out);

/* An oracle failed: prints the message and aborts (libFuzzer saves the input). */
extern void FuzzFail(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

/* SQLSTATE as its five characters, for messages */
extern const char *FuzzSqlstateText(int sqlstate);

/*
 * FUZZ_TRY(statements)
 *		Runs the statements; an ereport(ERROR) inside them longjmps back here
 *		(as PG_TRY would catch it) and leaves its SQLSTATE in
 *		FuzzLastSqlstate.  Statements after the failing call are skipped, so
 *		put a kernel's oracles inside the same block.  Locals assigned inside
 *		and read after the block must be volatile.
 */
#define FUZZ_TRY(...) \
	do { \
		sigjmp_buf	fuzz_jb_; \
		sigjmp_buf *fuzz_save_jb_ = PG_exception_stack; \
		ErrorContextCallback *fuzz_save_ctx_ = error_context_stack; \
		FuzzLastSqlstate = 0; \
		PG_exception_stack = &fuzz_jb_; \
		if (sigsetjmp(fuzz_jb_, 0) == 0) \
		{ \
			__VA_ARGS__; \
		} \
		PG_exception_stack = fuzz_save_jb_; \
		error_context_stack = fuzz_save_ctx_; \
	} while (0)

#endif							/* CDP_FUZZ_PG_SHIM_H */
