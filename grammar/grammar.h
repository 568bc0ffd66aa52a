/* grammar.h: what the scanner and the parser share (internal to grammar/).
 *
 * The scanner is a reentrant flex scanner whose extra data is a LexState;
 * the parser is a pure bison parser that calls it with the scanner handle.
 */
#ifndef TRAC_GRAMMAR_H
#define TRAC_GRAMMAR_H

#include "tra.h"

#define LEX_MAX_OPEN 64 /* open brackets remembered for "to match this" notes */

/* How deep an expression may nest (tra(5), "Limits"): brackets, calls,
 * reductions and operators each add a level. The scanner stops feeding
 * brackets past it, so bison's stack cannot overflow; the parser checks
 * operators, so the recursive passes after it (sema, the interpreter,
 * code generation) stay far from the end of the C stack, which trac
 * sizes itself (main.c: at most 775 bytes a level were measured, in a
 * sum's; 2,000 levels so take about 1.5 MiB). It admits a product of
 * 1,000 factors inside a reduction with room to spare; it is not higher
 * because LLVM's vectoriser takes superlinear time over one loop of such
 * an expression (exp nested 990 deep: 5.8 s; 2,000: 17 s; 4,000: 62 s). */
#define PARSE_MAX_NESTING 2000
/* sema's TraExpr trees are at most a few levels deeper than the AST
 * (mean's division, the ACC of an epilogue) */
_Static_assert(PARSE_MAX_NESTING + 10 <= TRA_MAX_EXPR_DEPTH, "sema's trees pass tra_verify");

/* The scanner's state.
 *
 * Statements are numbered as they end (empty ones are not counted), and
 * every token records the statement it belongs to, so that the parser
 * can tell whether a syntax error is in a statement that already had a
 * lexical error (then it stays quiet: the lexical error explains it) even
 * when the error is found at the statement's own newline, after the
 * scanner has moved on. */
typedef struct LexState {
	const Source *src;
	Diag *diag;
	Arena *arena;
	uint32_t pos;                /* byte offset of the next character */
	int depth;                   /* brackets open: newlines inside don't end statements */
	uint32_t open[LEX_MAX_OPEN]; /* offsets of the innermost open brackets */
	bool recovering;             /* after a syntax error the next newline ends the statement */
	bool need_newline;           /* a token since the last NEWLINE: synthesise one at EOF */
	int nerrors;                 /* lexical errors */
	int stmt_tokens;             /* tokens so far in this statement */
	bool stmt_open;              /* this statement has a token or a lexical error */
	int nstmt;                   /* non-empty statements ended so far */
	int tok_stmt;                /* the statement of the last token returned */
	int lex_error_stmt;          /* the last statement with a lexical error, or -1 */
	int continued_stmt;          /* a statement that continues one that ended in an
	                                operator (its syntax error is not reported), or -1 */
	int deep_stmt;               /* the last statement told it nests too deeply, or -1 */
	int last_tok;                /* the last token returned */
	Span tok_span;               /* ... and where it was */
	int prev_tok;                /* the token before it */
	Span prev_span;              /* ... and where that was */
	Span last_span;              /* the last text matched, token or not */
	Span first_span;             /* the statement's first token */
	int first_tok;               /* ... and its kind */
} LexState;

typedef void *yyscan_t;

/* Creates a scanner over st->src; returns 0, or -1 if out of memory. */
int lex_open(LexState *st, yyscan_t *scanner);
void lex_close(yyscan_t scanner);
LexState *lex_state(yyscan_t scanner);

#endif /* TRAC_GRAMMAR_H */
