/* unit.h: helpers shared by the Check programs of tests/unit/.
 *
 * Each test compiles a small program text in memory: unit_compile runs
 * parse_program and (if parsing succeeded) sema_build, with diagnostics
 * captured in a memory stream so that tests can look for key phrases,
 * and returns everything in one UnitRun that unit_free releases. The
 * printers render AST and TRA expressions as compact prefix strings,
 * "(+ a (* b c))", so that a test states a tree's shape in one line.
 * UNIT_MAIN(suite) is each program's main(). Only static inline
 * functions and macros live here, so every test program includes it
 * without link clashes.
 */
#ifndef TRAC_TESTS_UNIT_H
#define TRAC_TESTS_UNIT_H

#include "tra.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics into memory ---------------------------------------------- */

/* A memory stream and the buffer it writes; text is valid after a flush. */
typedef struct UnitMem {
	FILE *f;
	char *buf;
	size_t len;
} UnitMem;

static inline void unit_mem_open(UnitMem *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	ck_assert_ptr_nonnull(m->f);
}

/* The text written so far, NUL-terminated. */
static inline const char *unit_mem_text(UnitMem *m)
{
	fflush(m->f);
	return m->buf ? m->buf : "";
}

static inline void unit_mem_close(UnitMem *m)
{
	if (m->f)
		fclose(m->f);
	free(m->buf);
	m->f = NULL;
	m->buf = NULL;
}

/* ---- the front end in one call ---------------------------------------------- */

/* One compilation: keep it where it was allocated (it points into itself). */
typedef struct UnitRun {
	Arena arena;      /* owns the AST and the graph */
	Source src;       /* the program text */
	UnitMem mem;      /* where diagnostics go */
	Diag diag;
	AstProgram prog;
	TraGraph g;
	int parse_errors; /* what parse_program returned */
	int sema_errors;  /* what sema_build returned; 0 if not run */
	int nerrors;      /* both */
	bool sema_ran;    /* parsing succeeded, so sema ran */
} UnitRun;

/* Parses text[0..len) (which may hold NUL bytes) into a new run that
 * unit_free releases. */
static inline UnitRun *unit_parse_n(const char *text, size_t len)
{
	UnitRun *u = calloc(1, sizeof *u);
	ck_assert_ptr_nonnull(u);
	char *copy = arena_alloc(&u->arena, len + 1);
	memcpy(copy, text, len);
	u->src = (Source){"test.tra", copy, len};
	unit_mem_open(&u->mem);
	diag_init(&u->diag, &u->src, u->mem.f);
	u->diag.max_errors = 0;
	u->g.arena = &u->arena;
	u->parse_errors = parse_program(&u->src, &u->arena, &u->diag, &u->prog);
	u->nerrors = u->parse_errors;
	return u;
}

static inline UnitRun *unit_parse(const char *text)
{
	return unit_parse_n(text, strlen(text));
}

/* Parses text[0..len) and, if that succeeds, builds its graph with the
 * given -D overrides. */
static inline UnitRun *unit_compile_n(const char *text, size_t len,
                                      SizeOverride *ov, int nov)
{
	UnitRun *u = unit_parse_n(text, len);
	if (u->parse_errors == 0) {
		u->sema_ran = true;
		u->sema_errors = sema_build(&u->prog, ov, nov, &u->diag, &u->g);
	}
	u->nerrors = u->parse_errors + u->sema_errors;
	return u;
}

static inline UnitRun *unit_compile_ov(const char *text, SizeOverride *ov, int nov)
{
	return unit_compile_n(text, strlen(text), ov, nov);
}

static inline UnitRun *unit_compile(const char *text)
{
	return unit_compile_n(text, strlen(text), NULL, 0);
}

/* The diagnostics printed so far. */
static inline const char *unit_diag(UnitRun *u)
{
	return unit_mem_text(&u->mem);
}

static inline void unit_free(UnitRun *u)
{
	unit_mem_close(&u->mem);
	arena_free(&u->arena);
	free(u);
}

/* Compiles a program that must be valid, and verifies its graph. */
static inline UnitRun *unit_compile_ok(const char *text)
{
	UnitRun *u = unit_compile(text);
	ck_assert_msg(u->nerrors == 0, "unexpected errors in:\n%s\n%s", text, unit_diag(u));
	tra_verify(&u->g);
	return u;
}

/* Asserts that text has errors, one of them containing phrase. */
#define unit_assert_error(text, phrase)                                          \
	do {                                                                     \
		UnitRun *u_ = unit_compile(text);                                \
		const char *d_ = unit_diag(u_);                                  \
		ck_assert_msg(u_->nerrors > 0, "no error for:\n%s", (text));     \
		ck_assert_msg(strstr(d_, (phrase)) != NULL,                      \
		              "expected \"%s\" in the diagnostics of:\n%s\ngot:\n%s", \
		              (phrase), (text), d_);                             \
		unit_free(u_);                                                   \
	} while (0)

/* ---- the lexer ------------------------------------------------------------------ */

/* Runs lex_dump_tokens on text[0..len): the token lines and diagnostics
 * go to malloc'ed strings the caller frees. Returns the error count. */
static inline int unit_lex_n(const char *text, size_t len, char **tokens, char **diags)
{
	char *copy = malloc(len + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, text, len);
	copy[len] = '\0';
	Source src = {"test.tra", copy, len};
	UnitMem tm, dm;
	unit_mem_open(&tm);
	unit_mem_open(&dm);
	Diag d;
	diag_init(&d, &src, dm.f);
	d.max_errors = 0;
	int n = lex_dump_tokens(&src, &d, tm.f);
	ck_assert_int_eq(n, d.nerrors);
	fclose(tm.f);
	fclose(dm.f);
	*tokens = tm.buf ? tm.buf : calloc(1, 1);
	*diags = dm.buf ? dm.buf : calloc(1, 1);
	free(copy);
	return n;
}

static inline int unit_lex(const char *text, char **tokens, char **diags)
{
	return unit_lex_n(text, strlen(text), tokens, diags);
}

/* Occurrences of needle in hay. */
static inline int unit_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t len = strlen(needle);
	for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
		n++;
	return n;
}

/* ---- looking things up --------------------------------------------------------- */

/* The node named name, or -1. */
static inline int unit_node_id(const TraGraph *g, const char *name)
{
	for (int i = 0; i < g->nnodes; i++)
		if (strcmp(g->nodes[i].name, name) == 0)
			return i;
	return -1;
}

/* The node named name, which must exist. */
static inline const TraNode *unit_node(const TraGraph *g, const char *name)
{
	int id = unit_node_id(g, name);
	ck_assert_msg(id >= 0, "no node '%s'", name);
	return &g->nodes[id];
}

/* The size named name, which must exist. */
static inline const TraSize *unit_size(const TraGraph *g, const char *name)
{
	for (int i = 0; i < g->nsizes; i++)
		if (strcmp(g->sizes[i].name, name) == 0)
			return &g->sizes[i];
	ck_abort_msg("no size '%s'", name);
	return NULL;
}

/* ---- printing trees as prefix strings ------------------------------------------ */

static inline const char *unit_op_word(TraOp op)
{
	return op == TRA_OP_NEG ? "neg" : tra_op_name[op];
}

static inline void unit_ast_print(const AstProgram *p, AstRef r, FILE *f)
{
	const AstExpr *e = &p->ex[r];
	switch (e->kind) {
	case AST_NUM: fprintf(f, "%g", e->num.value); return;
	case AST_INF: fputs("inf", f); return;
	case AST_NAME: fputs(e->ref.name, f); return;
	case AST_RANGED:
	case AST_PAD:
		fprintf(f, "%s%s", e->ref.name, e->kind == AST_RANGED ? ":" : "=");
		unit_ast_print(p, e->ref.args[0], f);
		return;
	case AST_ACCESS:
	case AST_CALL:
		fprintf(f, "%s%c", e->ref.name, e->kind == AST_ACCESS ? '[' : '(');
		for (int i = 0; i < e->ref.nargs; i++) {
			if (i)
				fputc(',', f);
			unit_ast_print(p, e->ref.args[i], f);
		}
		fputc(e->kind == AST_ACCESS ? ']' : ')', f);
		return;
	case AST_UNARY:
		fprintf(f, "(%s ", unit_op_word(e->op.op));
		unit_ast_print(p, e->op.a, f);
		fputc(')', f);
		return;
	case AST_BINARY:
		fprintf(f, "(%s ", unit_op_word(e->op.op));
		unit_ast_print(p, e->op.a, f);
		fputc(' ', f);
		unit_ast_print(p, e->op.b, f);
		fputc(')', f);
		return;
	case AST_REDUCE:
		fprintf(f, "%s[", ast_agg_name(e->red.agg));
		for (int i = 0; i < e->red.nidx; i++) {
			if (i)
				fputc(',', f);
			unit_ast_print(p, e->red.idx[i], f);
		}
		fputs("](", f);
		unit_ast_print(p, e->red.body, f);
		fputc(')', f);
		return;
	}
}

/* An AST expression as a prefix string, in a buffer of the run's arena. */
static inline const char *unit_ast_str(UnitRun *u, AstRef r)
{
	UnitMem m;
	unit_mem_open(&m);
	unit_ast_print(&u->prog, r, m.f);
	const char *t = unit_mem_text(&m); /* flushes, so m.len is right */
	const char *s = arena_strndup(&u->arena, t, m.len);
	unit_mem_close(&m);
	return s;
}

static inline void unit_tra_print(const TraGraph *g, const TraNode *n, int e, FILE *f)
{
	const TraExpr *x = &g->ex[e];
	switch (x->op) {
	case TRA_OP_CONST: fprintf(f, "%.9g", x->value); return;
	case TRA_OP_ACC: fputs("acc", f); return;
	case TRA_OP_INDEX: fprintf(f, "#%s", n->idx[x->arg].name); return;
	case TRA_OP_VAR: { /* $k: the LET k from the innermost, as --emit=tra's tk */
		int k = 0;
		for (int l = x->arg; g->ex[l].op == TRA_OP_LET; l = g->ex[l].kid[1])
			k++;
		fprintf(f, "$%d", k);
		return;
	}
	case TRA_OP_OPERAND: {
		const TraOperand *op = &n->ops[x->arg];
		fputs(g->nodes[op->node].name, f);
		if (op->rank) {
			fputc('[', f);
			for (int d = 0; d < op->rank; d++)
				fprintf(f, "%s%s", d ? "," : "", n->idx[op->idx[d]].name);
			fputc(']', f);
		}
		return;
	}
	default:
		break;
	}
	bool infix = x->op == TRA_OP_NEG || (x->op >= TRA_OP_ADD && x->op <= TRA_OP_DIV) ||
	             (x->op >= TRA_OP_LT && x->op <= TRA_OP_NE);
	fprintf(f, infix ? "(%s " : "%s(", unit_op_word(x->op));
	for (int k = 0; k < tra_op_arity[x->op]; k++) {
		if (k)
			fputc(infix ? ' ' : ',', f);
		unit_tra_print(g, n, x->kid[k], f);
	}
	fputc(')', f);
}

/* A TRA expression of node n as a prefix string; "-" for e < 0. */
static inline const char *unit_tra_str(UnitRun *u, const TraNode *n, int e)
{
	if (e < 0)
		return "-";
	UnitMem m;
	unit_mem_open(&m);
	unit_tra_print(&u->g, n, e, m.f);
	const char *t = unit_mem_text(&m); /* flushes, so m.len is right */
	const char *s = arena_strndup(&u->arena, t, m.len);
	unit_mem_close(&m);
	return s;
}

/* The index names of node n from..to, comma-separated. */
static inline const char *unit_idx_str(UnitRun *u, const TraNode *n, int from, int to)
{
	UnitMem m;
	unit_mem_open(&m);
	for (int d = from; d < to; d++)
		fprintf(m.f, "%s%s", d > from ? "," : "", n->idx[d].name);
	const char *t = unit_mem_text(&m); /* flushes, so m.len is right */
	const char *s = arena_strndup(&u->arena, t, m.len);
	unit_mem_close(&m);
	return s;
}

/* ---- task graphs ----------------------------------------------------------------- */

/* src compiled, ordered, fused, partitioned for devices (node fixed where
 * manual, "NODE:I=N,...", says) and lowered into ia, for placement tests. */
static inline UnitRun *unit_lowered(const char *src, int devices, const char *manual, IaGraph *ia)
{
	UnitRun *u = unit_compile_ok(src);
	order_contractions(&u->g);
	fuse_elementwise(&u->g);
	dce_remove(&u->g); /* fusion leaves what it inlined dead */
	int **fixed = arena_alloc(&u->arena, (size_t)u->g.nnodes * sizeof *fixed);
	if (manual) {
		int node, *part = arena_alloc(&u->arena, 64 * sizeof *part);
		char err[200];
		ck_assert_msg(decomp_parse_manual(&u->g, manual, &node, part, err, sizeof err), "%s", err);
		fixed[node] = part;
	}
	DecompOptions o = {.devices = devices, .fixed = fixed};
	decomp_run(&u->g, &o);
	ia_lower(&u->g, &u->arena, ia);
	ia->ndevices = devices;
	return u;
}

/* Two small programs the placement tests lower: an MLP with a row softmax,
 * and batched attention. */
static inline const char *unit_mlp_src(void)
{
	return "size N = 32, D = 16, H = 24, C = 4\n"
	       "input X[N, D]\ninput W1[D, H]\ninput b1[H]\ninput W2[H, C]\n"
	       "Hd[i, j] = relu(sum[k](X[i, k] * W1[k, j]) + b1[j])\n"
	       "Y[i, c]  = sum[k](Hd[i, k] * W2[k, c])\n"
	       "M[i]     = max[c](Y[i, c])\n"
	       "E[i, c]  = exp(Y[i, c] - M[i])\n"
	       "P[i, c]  = E[i, c] / sum[c2](E[i, c2])\n"
	       "output P\n";
}

static inline const char *unit_attention_src(void)
{
	return "size B = 2, H = 2, S = 8, D = 4\n"
	       "input Q[B, H, S, D], K[B, H, S, D], V[B, H, S, D]\n"
	       "A[b, h, s, t] = sum[d](Q[b, h, s, d] * K[b, h, t, d]) / sqrt(D)\n"
	       "M[b, h, s]    = max[t](A[b, h, s, t])\n"
	       "E[b, h, s, t] = exp(A[b, h, s, t] - M[b, h, s])\n"
	       "O[b, h, s, d] = sum[t](E[b, h, s, t] * V[b, h, t, d]) / sum[t](E[b, h, s, t])\n"
	       "output O\n";
}

/* ---- the main program ------------------------------------------------------------ */

/* main(): runs the suite that make_suite() returns; fails if any test did. */
#define UNIT_MAIN(make_suite)                                                 \
	int main(void)                                                        \
	{                                                                     \
		SRunner *sr_ = srunner_create(make_suite());                  \
		srunner_run_all(sr_, CK_NORMAL);                              \
		int failed_ = srunner_ntests_failed(sr_);                     \
		srunner_free(sr_);                                            \
		return failed_ == 0 ? EXIT_SUCCESS : EXIT_FAILURE;            \
	}

#endif /* TRAC_TESTS_UNIT_H */
