/* grammar.h: what the scanner and the parser share (internal to grammar/).
 *
 * The scanner is a reentrant flex scanner whose extra data is a LexState;
 * the parser is a pure bison parser that calls it with the scanner handle.
 */
#ifndef TRAC_GRAMMAR_H
#define TRAC_GRAMMAR_H

#include "tra.h"

#define LEX_MAX_OPEN 64 /* open brackets remembered for "to match this" notes */

/* The scanner's state. */
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
	bool stmt_lex_error;         /* this statement had a lexical error: don't pile a
	                                syntax error on it */
	int stmt_tokens;             /* tokens so far in this statement */
	int last_tok;                /* the last token returned */
	Span last_span;              /* ... and where it was */
	Span first_span;             /* the statement's first token */
	int first_tok;               /* ... and its kind */
} LexState;

typedef void *yyscan_t;

/* Creates a scanner over st->src; returns 0, or -1 if out of memory. */
int lex_open(LexState *st, yyscan_t *scanner);
void lex_close(yyscan_t scanner);
LexState *lex_state(yyscan_t scanner);

#endif /* TRAC_GRAMMAR_H */
