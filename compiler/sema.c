/* sema.c: semantic analysis, from the AST to the TRA graph.
 * needs: a parsed program. gives: a checked TraGraph, or diagnostics.
 *
 * Statements are processed in source order, since every name must be
 * defined before it is used: `size` statements are evaluated exactly in
 * 64-bit arithmetic (overflow and inexact division are errors, -D values
 * replace a size's definition), `input` statements become leaf nodes,
 * and each definition becomes one or more einsum nodes. `output`
 * statements are resolved at the end, so they may come anywhere.
 *
 * A definition is checked in a first pass over its expression (resolve):
 * every name is bound to an index, a size or a tensor; every index gets
 * its range from the dimension it subscripts, and two different ranges
 * for one index are an error showing both uses; each reduction records
 * its free indices as a bit mask (an index binding is a small number,
 * at most TRA_MAX_STMT_INDICES per statement). Only a statement that
 * resolves cleanly reaches the second pass (build), which emits nodes:
 *
 *   - The statement's node gets as its aggregation the first reduction
 *     at top level (outside any other reduction) whose free indices are
 *     exactly the left-hand side's: its body is the join, and the rest
 *     of the expression, with that reduction as ACC, the epilogue. So
 *     relu(sum[k](X[i,k] * W[k,j]) + b[j]) is one node: a contraction
 *     with a bias-and-relu epilogue.
 *   - Every other reduction (nested, or partial: free indices a strict
 *     subset of the left-hand side's) becomes a node of its own, named
 *     T.r1, T.r2, ..., over its free indices, and is read as an operand.
 *
 * mean[k](e) is a sum whose epilogue divides by the count. Literals are
 * rounded to the statement's element type, as compiled code sees them.
 */
#include "tra.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the symbol table: program-level names -------------------------------- */

typedef enum SymKind {
	SYM_SIZE,   /* a size: value */
	SYM_TENSOR, /* a tensor, input or defined: node */
} SymKind;

typedef struct Sym {
	const char *name;
	SymKind kind;
	Span span;     /* the defining statement's name */
	int64_t value; /* SYM_SIZE */
	int node;      /* SYM_TENSOR */
	bool is_input; /* SYM_TENSOR declared by `input` */
	bool broken;   /* its definition had errors: uses fail silently, so
	                  that one mistake is reported once, not at every use */
	bool used;     /* read by a statement (or, for a tensor, an output) */
} Sym;

typedef uint64_t VarMask; /* a set of bindings */

/* One index binding of a statement: a left-hand index or a reduction's. */
typedef struct Binding {
	const char *name;
	Span span;         /* where it is bound */
	int64_t range;     /* 0 until a subscript gives it */
	const char *sname; /* the size the range came from, or NULL */
	Span range_at;     /* the subscript that gave the range */
	bool used;         /* occurs in the expression */
	bool reduced;      /* bound by a reduction */
	bool given;        /* its range is written (i : N) */
	int64_t plain_min; /* the smallest dimension a plain subscript gave it */
	const char *plain_sname;
	int clash_node;    /* the first plain subscript that gave another range: */
	int clash_d;       /* its node and dimension (clash_node 0: none; */
	Span clash_at;     /* node ids here are + 1) */
	bool affine;       /* read in an affine subscript: its range may come
	                      from inference (sema_infer_ranges) */
} Binding;

/* A tensor element with a subscript that is not a plain index
 * (X[h + r - 1, 2 * w], X[i, 0], X[..., pad=0]): sema_build makes a view
 * of it. Coefficients are per binding of the statement. */
typedef struct SemaAccess {
	AstRef at;         /* the AST_ACCESS */
	int node;          /* the tensor read */
	int rank;
	int64_t *coef;     /* rank x TRA_MAX_STMT_INDICES */
	int64_t *off;      /* rank */
	AstRef *gather;    /* rank: the integer tensor element a dimension's
	                      position is (a gather), or -1 */
	VarMask gmask;     /* the bindings those elements read */
	bool padded;       /* reads outside it give pad */
	double pad;
} SemaAccess;


/* The statements that name one name, found in constant time: messages
 * about undefined names and outputs ask for them, and scanning the file
 * for each made 30,000 such errors take minutes. */
typedef struct SemaNames {
	const char *name;  /* NULL: an empty slot */
	int def;           /* the first size, input or definition of it, or -1 */
	int output;        /* the first output statement naming it, or -1 */
	bool defined;      /* a definition (T[...] = ...) names it */
} SemaNames;

typedef struct Sema {
	const AstProgram *prog;
	const Source *src;
	Diag *diag;
	TraGraph *g;
	Arena *arena;
	SizeOverride *ov;
	int nov;
	Sym *syms;
	int nsyms, symcap;
	int *table;        /* open addressing: sym index + 1, 0 empty */
	int tabcap;
	SemaNames *names;  /* the statements each name has, in open addressing */
	int namecap;
	/* the statement being checked */
	const AstStmt *stmt;
	Binding vars[TRA_MAX_STMT_INDICES];
	int nvars;
	int scope[TRA_MAX_STMT_INDICES]; /* bindings visible, innermost last */
	int nscope;
	int *expr_var;     /* AstRef -> binding of an index name, or -1 */
	VarMask *free_vars;/* AstRef of a reduction -> its free bindings */
	int nerr_stmt;     /* errors reported for this statement */
	bool typed;        /* a tensor has fixed the statement's type */
	TrartDtype type;
	Span type_at;      /* the tensor that fixed it */
	int nsplit;        /* reductions split off so far, for names */
	const char *free_names[TRA_MAX_STMT_INDICES]; /* free indices reported */
	int nfree;
	bool too_many;     /* this statement binds more than TRA_MAX_STMT_INDICES */
	int *expr_access;  /* AstRef of an AST_ACCESS -> its SemaAccess, or -1 */
	TrartDtype *conv_from; /* AstRef of a conversion -> its argument's type */
	SemaAccess *acc;   /* the affine accesses of this statement */
	int nacc, acccap;
	int nview;         /* views made so far, for names */
	/* the backward passes built so far (grad), one per differentiated node */
	int *grad_loss;
	GradPass **grad_pass;
	bool *grad_named;  /* per node id: a gradient statement has named it */
	int ngrad, gradcap, gradnamecap;
} Sema;

static void sema_error(Sema *s, Span at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sema_error(Sema *s, Span at, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	diag_error(s->diag, at, "%s", buf);
	s->nerr_stmt++;
}

static uint32_t sema_hash(const char *name)
{
	uint32_t h = 2166136261u;
	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h;
}

static Sym *sema_lookup(const Sema *s, const char *name)
{
	if (!s->tabcap)
		return NULL;
	for (uint32_t i = sema_hash(name) & (uint32_t)(s->tabcap - 1);; i = (i + 1) & (uint32_t)(s->tabcap - 1)) {
		int k = s->table[i];
		if (k == 0)
			return NULL;
		if (strcmp(s->syms[k - 1].name, name) == 0)
			return &s->syms[k - 1];
	}
}

static void sema_rehash(Sema *s)
{
	int cap = s->tabcap ? 2 * s->tabcap : 64;
	s->table = arena_alloc(s->arena, (size_t)cap * sizeof *s->table);
	s->tabcap = cap;
	for (int k = 0; k < s->nsyms; k++) {
		uint32_t i = sema_hash(s->syms[k].name) & (uint32_t)(cap - 1);
		while (s->table[i])
			i = (i + 1) & (uint32_t)(cap - 1);
		s->table[i] = k + 1;
	}
}

static Sym *sema_define(Sema *s, const char *name, SymKind kind, Span span)
{
	ARENA_RESERVE(s->arena, s->syms, s->nsyms, s->symcap);
	Sym *sym = &s->syms[s->nsyms++];
	memset(sym, 0, sizeof *sym);
	sym->name = name;
	sym->kind = kind;
	sym->span = span;
	if (2 * s->nsyms > s->tabcap)
		sema_rehash(s);
	else {
		uint32_t i = sema_hash(name) & (uint32_t)(s->tabcap - 1);
		while (s->table[i])
			i = (i + 1) & (uint32_t)(s->tabcap - 1);
		s->table[i] = s->nsyms;
	}
	return sym;
}

/* What a symbol is, with its article: "a size", "an input", "a tensor". */
static const char *sym_what(const Sym *sym)
{
	if (sym->kind == SYM_SIZE)
		return "a size";
	return sym->is_input ? "an input" : "a tensor";
}

/* Defines name as broken, so that its uses fail without a message. */
static void sema_define_broken(Sema *s, const char *name, SymKind kind, Span span)
{
	if (!sema_lookup(s, name))
		sema_define(s, name, kind, span)->broken = true;
}

/* Reports a second definition of a name; returns true if name is taken. */
static bool sema_check_fresh(Sema *s, const char *name, Span at)
{
	Sym *old = sema_lookup(s, name);
	if (!old)
		return false;
	sema_error(s, at, "'%s' is already defined, as %s", name, sym_what(old));
	diag_note(s->diag, old->span, "'%s' is defined here", name);
	return true;
}

/* The slot of name in s->names: its entry, or the empty one it would take. */
static SemaNames *sema_names_slot(const Sema *s, const char *name)
{
	uint32_t mask = (uint32_t)(s->namecap - 1);
	for (uint32_t i = sema_hash(name) & mask;; i = (i + 1) & mask)
		if (!s->names[i].name || strcmp(s->names[i].name, name) == 0)
			return &s->names[i];
}

/* Fills s->names from every statement, once. */
static void sema_index_names(Sema *s)
{
	s->namecap = 64;
	while (s->namecap < 2 * s->prog->nst + 2)
		s->namecap *= 2;
	s->names = arena_alloc(s->arena, (size_t)s->namecap * sizeof *s->names);
	for (int i = 0; i < s->prog->nst; i++) {
		const AstStmt *st = &s->prog->st[i];
		SemaNames *n = sema_names_slot(s, st->name);
		if (!n->name)
			*n = (SemaNames){st->name, -1, -1, false};
		if (st->kind == AST_STMT_OUTPUT && n->output < 0)
			n->output = i;
		if (st->kind != AST_STMT_OUTPUT && st->kind != AST_STMT_FEED && n->def < 0)
			n->def = i;
		n->defined |= st->kind == AST_STMT_DEF;
	}
}

/* The statement that first defines name (size, input or definition), or -1. */
static int sema_first_def(const Sema *s, const char *name)
{
	const SemaNames *n = sema_names_slot(s, name);
	return n->name ? n->def : -1;
}

/* The kinds of name sema_suggest may offer. */
enum {
	SUGGEST_SIZES = 1,   /* sizes */
	SUGGEST_TENSORS = 2, /* inputs and defined tensors, scalars included */
	SUGGEST_INDICES = 4, /* the indices bound where the name is used */
};

/* The defined name of the kinds in `want` closest to a misspelt one, for
 * a "did you mean" hint, or NULL. Only names defined so far are offered:
 * a later one could not be used here anyway. */
static const char *sema_suggest(Sema *s, const char *name, int want)
{
	/* past the printing limit the message is not shown: no hint to find
	 * (each costs a pass over every name: quadratic over many errors) */
	if (s->diag->max_errors > 0 && s->diag->nerrors >= s->diag->max_errors)
		return NULL;
	const char **cands = arena_alloc(s->arena, (size_t)(s->nsyms + s->nscope + 1) * sizeof *cands);
	int n = 0;
	if (want & SUGGEST_INDICES)
		for (int i = s->nscope - 1; i >= 0; i--) /* innermost first: ties go to it */
			cands[n++] = s->vars[s->scope[i]].name;
	for (int i = 0; i < s->nsyms; i++)
		if (want & (s->syms[i].kind == SYM_SIZE ? SUGGEST_SIZES : SUGGEST_TENSORS))
			cands[n++] = s->syms[i].name;
	return util_suggest(name, cands, n);
}

/* An unknown name: defined later in the file, or not at all (then
 * perhaps misspelt: a defined name of the kinds in `want` is suggested). */
static void sema_undefined(Sema *s, const char *name, Span at, const char *what, int want)
{
	int later = sema_first_def(s, name);
	if (s->stmt && s->stmt->kind == AST_STMT_DEF && strcmp(s->stmt->name, name) == 0 &&
	    at.lo >= s->stmt->span.lo && at.lo < s->stmt->span.hi) {
		sema_error(s, at, "'%s' is used in its own definition; a tensor is defined once, "
		           "from tensors defined before it", name);
		return;
	}
	if (later >= 0 && s->prog->st[later].span.lo > at.lo) {
		sema_error(s, at, "'%s' is used before its definition", name);
		diag_note(s->diag, s->prog->st[later].name_span, "'%s' is defined here", name);
		return;
	}
	const char *near = sema_suggest(s, name, want);
	if (near)
		sema_error(s, at, "undefined %s '%s'; did you mean '%s'?", what, name, near);
	else
		sema_error(s, at, "undefined %s '%s'", what, name);
}

/* ---- sizes ------------------------------------------------------------------- */

/* An integer literal's exact value from its source text. */
static bool size_literal(Sema *s, const AstExpr *e, int64_t *out)
{
	const char *t = s->src->text + e->span.lo;
	uint32_t n = e->span.hi - e->span.lo;
	if (!e->num.integral) {
		sema_error(s, e->span, "sizes are integers, but '%.*s' is not", (int)n, t);
		return false;
	}
	int64_t v = 0;
	for (uint32_t i = 0; i < n; i++)
		if (t[i] >= '0' && t[i] <= '9') {
			if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, t[i] - '0', &v)) {
				sema_error(s, e->span, "the integer '%.*s' does not fit in 64 bits", (int)n, t);
				return false;
			}
		}
	*out = v;
	return true;
}

static bool size_eval(Sema *s, AstRef r, int64_t *out);

static bool size_binary(Sema *s, const AstExpr *e, int64_t *out)
{
	int64_t a, b;
	if (!size_eval(s, e->op.a, &a) || !size_eval(s, e->op.b, &b))
		return false;
	bool ovf = false;
	switch (e->op.op) {
	case TRA_OP_ADD: ovf = __builtin_add_overflow(a, b, out); break;
	case TRA_OP_SUB: ovf = __builtin_sub_overflow(a, b, out); break;
	case TRA_OP_MUL: ovf = __builtin_mul_overflow(a, b, out); break;
	case TRA_OP_DIV:
		if (b == 0) {
			sema_error(s, e->span, "division by zero in a size expression");
			return false;
		}
		if (a == INT64_MIN && b == -1) {
			sema_error(s, e->span, "size arithmetic overflows 64 bits");
			return false;
		}
		if (a % b != 0) {
			sema_error(s, e->span, "size division is not exact: %" PRId64 " / %" PRId64
			           " leaves %" PRId64, a, b, a % b);
			return false;
		}
		*out = a / b;
		break;
	default:
		sema_error(s, e->span, "comparisons are not allowed in a size expression");
		return false;
	}
	if (ovf)
		sema_error(s, e->span, "size arithmetic overflows 64 bits");
	return !ovf;
}

static bool size_name(Sema *s, const AstExpr *e, int64_t *out)
{
	Sym *sym = sema_lookup(s, e->ref.name);
	if (!sym) {
		sema_undefined(s, e->ref.name, e->span, "size", SUGGEST_SIZES);
		return false;
	}
	if (sym->broken)
		return false;
	if (sym->kind != SYM_SIZE) {
		sema_error(s, e->span, "'%s' is a tensor, but a size expression needs sizes", e->ref.name);
		diag_note(s->diag, sym->span, "'%s' is defined here", sym->name);
		return false;
	}
	*out = sym->value;
	sym->used = true;
	return true;
}

/* Evaluates an integer size expression: literals, sizes, + - * / ( ). */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static bool size_eval(Sema *s, AstRef r, int64_t *out)
{
	const AstExpr *e = &s->prog->ex[r];
	switch (e->kind) {
	case AST_NUM: return size_literal(s, e, out);
	case AST_NAME: return size_name(s, e, out);
	case AST_BINARY: return size_binary(s, e, out);
	case AST_UNARY:
		if (!size_eval(s, e->op.a, out))
			return false;
		if (*out == INT64_MIN) {
			sema_error(s, e->span, "size arithmetic overflows 64 bits");
			return false;
		}
		*out = -*out;
		return true;
	default:
		sema_error(s, e->span, "a size expression may use only integers, sizes, + - * / and parentheses");
		return false;
	}
}

static SizeOverride *sema_override(Sema *s, const char *name)
{
	for (int i = 0; i < s->nov; i++)
		if (strcmp(s->ov[i].name, name) == 0)
			return &s->ov[i];
	return NULL;
}

static void sema_size(Sema *s, const AstStmt *st)
{
	if (sema_check_fresh(s, st->name, st->name_span))
		return;
	SizeOverride *ov = sema_override(s, st->name);
	int64_t v;
	if (ov) {
		ov->used = true;
		v = ov->value;
	} else if (!size_eval(s, st->value, &v)) {
		sema_define_broken(s, st->name, SYM_SIZE, st->name_span);
		return;
	} else if (v < 1) {
		sema_error(s, st->span, "size '%s' must be at least 1, but it is %" PRId64, st->name, v);
		sema_define_broken(s, st->name, SYM_SIZE, st->name_span);
		return;
	}
	Sym *sym = sema_define(s, st->name, SYM_SIZE, st->name_span);
	sym->value = v;
	ARENA_RESERVE(s->arena, s->g->sizes, s->g->nsizes, s->g->sizecap);
	s->g->sizes[s->g->nsizes++] = (TraSize){st->name, v, ov != NULL};
}

/* ---- inputs ------------------------------------------------------------------ */

/* The size a dimension expression names, for dumps and messages. */
static const char *sema_dim_name(const Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	return e->kind == AST_NAME ? e->ref.name : NULL;
}

/* Checks that a shape's element count (and bytes) fit in 63 bits. */
static bool sema_check_elements(Sema *s, Span at, const char *name, const TraIndex *idx, int rank)
{
	int64_t n = 8;
	for (int d = 0; d < rank; d++)
		if (__builtin_mul_overflow(n, idx[d].size, &n)) {
			sema_error(s, at, "tensor '%s' is too large: its size in bytes overflows 64 bits", name);
			return false;
		}
	return true;
}

static void sema_input(Sema *s, const AstStmt *st)
{
	if (sema_check_fresh(s, st->name, st->name_span))
		return;
	if (st->nidx > TRA_MAX_RANK) {
		sema_error(s, st->span, "tensor '%s' has %d dimensions; at most %d are supported",
		           st->name, st->nidx, TRA_MAX_RANK);
		sema_define_broken(s, st->name, SYM_TENSOR, st->name_span);
		return;
	}
	TraNode n = {.kind = TRA_NODE_INPUT, .name = st->name, .span = st->name_span,
	             .type = st->type, .rank = st->nidx, .nidx = st->nidx, .join = -1, .epilogue = -1};
	n.idx = arena_alloc(s->arena, (size_t)(st->nidx + 1) * sizeof *n.idx);
	bool ok = true;
	for (int d = 0; d < st->nidx; d++) {
		int64_t v = 0;
		if (!size_eval(s, st->idx[d], &v)) {
			ok = false;
			continue;
		}
		if (v < 1) {
			sema_error(s, s->prog->ex[st->idx[d]].span,
			           "dimension %d of '%s' must be at least 1, but it is %" PRId64, d + 1, st->name, v);
			ok = false;
		}
		n.idx[d] = (TraIndex){arena_printf(s->arena, "d%d", d), v, sema_dim_name(s, st->idx[d])};
	}
	if (!ok || !sema_check_elements(s, st->span, st->name, n.idx, n.rank)) {
		sema_define_broken(s, st->name, SYM_TENSOR, st->name_span);
		return;
	}
	Sym *sym = sema_define(s, st->name, SYM_TENSOR, st->name_span);
	sym->is_input = true;
	sym->node = tra_node_new(s->g, &n);
	tra_node_cost(s->g, &s->g->nodes[sym->node]);
}

/* ---- definitions, pass 1: resolve names, ranges and free indices --------- */

static VarMask resolve(Sema *s, AstRef r, bool cmp_ok);

static int scope_find(const Sema *s, const char *name)
{
	for (int i = s->nscope - 1; i >= 0; i--)
		if (strcmp(s->vars[s->scope[i]].name, name) == 0)
			return s->scope[i];
	return -1;
}

/* A new binding for an index name at `at`; -1 after an error. */
static int sema_bind(Sema *s, const char *name, Span at, bool reduced)
{
	Sym *sym = sema_lookup(s, name);
	if (sym) {
		/* reported, but bound all the same, so its uses raise nothing more */
		sema_error(s, at, "index '%s' has the same name as %s; rename the index",
		           name, sym_what(sym));
		diag_note(s->diag, sym->span, "'%s' is defined here", name);
	}
	if (s->nvars == TRA_MAX_STMT_INDICES) {
		/* once: the uses of this index and of any after it are not free
		 * indices (sema_free_index stays quiet) */
		if (!s->too_many)
			sema_error(s, at, "too many indices in one statement: '%s' would be the %dth bound here "
			           "(left-hand side and reductions together), and at most %d are; split the "
			           "statement", name, TRA_MAX_STMT_INDICES + 1, TRA_MAX_STMT_INDICES);
		s->too_many = true;
		return -1;
	}
	s->vars[s->nvars] = (Binding){.name = name, .span = at, .reduced = reduced};
	return s->nvars++;
}

static void sema_range_error(Sema *s, int v, const TraNode *node, int d, Span at);

/* Fixes or checks the range of binding v, subscripting dimension d of
 * node. Two plain subscripts that disagree are an error, reported once
 * the statement is resolved (sema_resolve_clashes): unless the index is
 * also read in an affine subscript, which makes its range their
 * intersection (Tensor Comprehensions' rule, X[i + 1] - X[i]). */
static void sema_range(Sema *s, int v, const TraNode *node, int d, Span at)
{
	Binding *b = &s->vars[v];
	const TraIndex *dim = &node->idx[d];
	if (b->range == 0) {
		b->range = b->plain_min = dim->size;
		b->sname = b->plain_sname = dim->sname;
		b->range_at = at;
		return;
	}
	if (b->range == dim->size)
		return;
	if (!b->given) {
		if (b->clash_node == 0) {
			b->clash_node = (int)(node - s->g->nodes) + 1;
			b->clash_d = d;
			b->clash_at = at;
		}
		if (dim->size < b->plain_min) {
			b->plain_min = dim->size;
			b->plain_sname = dim->sname;
		}
		return;
	}
	sema_range_error(s, v, node, d, at);
}

/* The range clashes sema_range left: errors, or the intersection. */
static void sema_resolve_clashes(Sema *s)
{
	for (int v = 0; v < s->nvars; v++) {
		Binding *b = &s->vars[v];
		if (b->clash_node == 0)
			continue;
		if (!b->affine) {
			sema_range_error(s, v, &s->g->nodes[b->clash_node - 1], b->clash_d, b->clash_at);
			continue;
		}
		b->range = b->plain_min;
		b->sname = b->plain_sname;
	}
}

static void sema_range_error(Sema *s, int v, const TraNode *node, int d, Span at)
{
	const Binding *b = &s->vars[v];
	const TraIndex *dim = &node->idx[d];
	char here[96], there[96];
	snprintf(here, sizeof here, dim->sname ? "%s=%" PRId64 : "%.0s%" PRId64,
	         dim->sname ? dim->sname : "", dim->size);
	snprintf(there, sizeof there, b->sname ? "%s=%" PRId64 : "%.0s%" PRId64,
	         b->sname ? b->sname : "", b->range);
	if (b->given) /* a written range only larger than the dimension reaches here */
		sema_error(s, at, "index '%s' is written to range over %s, more than dimension %d of "
		           "'%s' holds (%s); read it with a padding value (pad=0 last in the brackets), "
		           "or give a smaller range", b->name, there, d + 1, node->name, here);
	else
		sema_error(s, at, "index '%s' ranges over %s here (dimension %d of '%s'), but over %s "
		           "elsewhere", b->name, here, d + 1, node->name, there);
	diag_note(s->diag, b->range_at, "'%s' ranges over %s here", b->name, there);
}

/* Fixes the statement's element type on the first tensor read (or
 * conversion), named name, of type t; checks the others. */
static void sema_type(Sema *s, TrartDtype t, const char *name, Span at)
{
	if (!s->typed) {
		s->typed = true;
		s->type = t;
		s->type_at = at;
		return;
	}
	if (t == s->type)
		return;
	sema_error(s, at, "'%s' is %s, but this statement already reads %s tensors; "
	           "one statement cannot mix element types: convert one, as %s(...)", name,
	           trart_dtype_name(t), trart_dtype_name(s->type), trart_dtype_name(s->type));
	diag_note(s->diag, s->type_at, "this is %s", trart_dtype_name(s->type));
}

/* A tensor named in an expression with nsub subscripts; NULL after an error. */
static const TraNode *resolve_tensor(Sema *s, const AstExpr *e, int nsub)
{
	Sym *sym = sema_lookup(s, e->ref.name);
	if (!sym) {
		sema_undefined(s, e->ref.name, e->ref.name_span, "tensor", SUGGEST_TENSORS);
		return NULL;
	}
	if (sym->broken) {
		s->nerr_stmt++; /* reported at its definition */
		return NULL;
	}
	if (sym->kind == SYM_SIZE) {
		sema_error(s, e->ref.name_span, "'%s' is a size, not a tensor", e->ref.name);
		return NULL;
	}
	sym->used = true;
	const TraNode *node = &s->g->nodes[sym->node];
	if (node->rank != nsub) {
		if (node->rank == 0)
			sema_error(s, e->span, "'%s' is a scalar; use it without subscripts", node->name);
		else
			sema_error(s, e->span, "'%s' has %d dimension%s, but %d subscript%s given",
			           node->name, node->rank, node->rank == 1 ? "" : "s",
			           nsub, nsub == 1 ? " is" : "s are");
		diag_note(s->diag, sym->span, "'%s' is defined here", node->name);
		return NULL;
	}
	sema_type(s, node->type, node->name, e->ref.name_span);
	return node;
}

/* Whether a free index of this name was already reported in this
 * statement (so that X[i, k] * W[k, j] says so once); records it if not. */
static bool sema_free_reported(Sema *s, const char *name)
{
	for (int i = 0; i < s->nfree; i++)
		if (strcmp(s->free_names[i], name) == 0)
			return true;
	if (s->nfree < TRA_MAX_STMT_INDICES)
		s->free_names[s->nfree++] = name;
	return false;
}

/* An index that is not bound: a misspelling of one that is, or one
 * that classic Einstein notation would sum over, which .tra does not. */
static void sema_free_index(Sema *s, const AstExpr *a)
{
	if (s->too_many) { /* most likely an index past the limit: reported */
		s->nerr_stmt++;
		return;
	}
	const char *near = sema_suggest(s, a->ref.name, SUGGEST_INDICES);
	if (near)
		sema_error(s, a->span, "index '%s' is free: it is neither on the left-hand side nor "
		           "reduced; did you mean '%s'?", a->ref.name, near);
	else
		sema_error(s, a->span, "index '%s' is free: it is neither on the left-hand side nor "
		           "reduced; did you mean sum[%s](...)?", a->ref.name, a->ref.name);
}

/* ---- subscripts: plain indices and affine forms ------------------------------ */

/* A subscript as an integer-linear form: the sum of coef[v] times binding
 * v, plus c. coef is NULL while a constant is evaluated. */
typedef struct SemaForm {
	int64_t *coef;
	int64_t c;
} SemaForm;

static void sema_not_affine(Sema *s, Span at, const char *what)
{
	sema_error(s, at, "a subscript is an integer-linear expression of indices and sizes, "
	           "such as h + r - 1 or 2 * i; it cannot %s", what);
}

/* Whether expression r mentions a bound index. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static bool sema_mentions_index(const Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	switch (e->kind) {
	case AST_NAME: return scope_find(s, e->ref.name) >= 0;
	case AST_UNARY: return sema_mentions_index(s, e->op.a);
	case AST_BINARY: return sema_mentions_index(s, e->op.a) || sema_mentions_index(s, e->op.b);
	default: return false;
	}
}

static const char *sema_form_rejects(AstKind k);

static bool sema_form_overflow(Sema *s, Span at)
{
	sema_error(s, at, "subscript arithmetic overflows 64 bits");
	return false;
}

static bool sema_form_add(Sema *s, Span at, int64_t *acc, int64_t v)
{
	return !__builtin_add_overflow(*acc, v, acc) || sema_form_overflow(s, at);
}

static bool sema_form_name(Sema *s, const AstExpr *e, int64_t mult, SemaForm *f)
{
	int v = scope_find(s, e->ref.name);
	if (v >= 0) {
		s->vars[v].used = true;
		return sema_form_add(s, e->span, &f->coef[v], mult);
	}
	Sym *sym = sema_lookup(s, e->ref.name);
	if (sym && sym->broken) {
		s->nerr_stmt++; /* reported at its definition */
		return false;
	}
	if (sym && sym->kind == SYM_SIZE) {
		int64_t t;
		sym->used = true;
		if (__builtin_mul_overflow(sym->value, mult, &t))
			return sema_form_overflow(s, e->span);
		return sema_form_add(s, e->span, &f->c, t);
	}
	if (sym)
		sema_not_affine(s, e->span, sema_form_rejects(AST_ACCESS));
	else if (!sema_free_reported(s, e->ref.name))
		sema_free_index(s, e);
	return false;
}

static bool sema_form(Sema *s, AstRef r, int64_t mult, SemaForm *f);

/* a * b, one side constant. */
static bool sema_form_mul(Sema *s, const AstExpr *e, int64_t mult, SemaForm *f)
{
	AstRef a = e->op.a, b = e->op.b;
	if (sema_mentions_index(s, a)) {
		AstRef t = a;
		a = b;
		b = t;
	}
	if (sema_mentions_index(s, a)) {
		sema_not_affine(s, e->span, "multiply two indices");
		return false;
	}
	SemaForm k = {NULL, 0};
	if (!sema_form(s, a, 1, &k))
		return false;
	int64_t m;
	if (__builtin_mul_overflow(mult, k.c, &m))
		return sema_form_overflow(s, e->span);
	return sema_form(s, b, m, f);
}

/* a / b: both constant, the division exact. */
static bool sema_form_div(Sema *s, const AstExpr *e, int64_t mult, SemaForm *f)
{
	if (sema_mentions_index(s, e->op.a) || sema_mentions_index(s, e->op.b)) {
		sema_not_affine(s, e->span, "divide an index, or divide by one");
		return false;
	}
	SemaForm a = {NULL, 0}, b = {NULL, 0};
	if (!sema_form(s, e->op.a, 1, &a) || !sema_form(s, e->op.b, 1, &b))
		return false;
	if (b.c == 0 || (a.c == INT64_MIN && b.c == -1) || a.c % b.c != 0) {
		sema_error(s, e->span, b.c == 0 ? "division by zero in a subscript" :
		           "division in a subscript must be exact: %" PRId64 " / %" PRId64 " is not",
		           a.c, b.c);
		return false;
	}
	int64_t t;
	if (__builtin_mul_overflow(a.c / b.c, mult, &t))
		return sema_form_overflow(s, e->span);
	return sema_form_add(s, e->span, &f->c, t);
}

/* What a subscript of kind k cannot do, in sema_not_affine's words. */
static const char *sema_form_rejects(AstKind k)
{
	switch (k) {
	case AST_ACCESS:
		return "read a tensor inside arithmetic (a gather's subscript is one integer tensor "
		       "element, as X[T[i]])";
	case AST_CALL: return "call a function";
	case AST_REDUCE: return "hold a reduction";
	default: return "be inf";
	}
}

/* Adds mult times subscript r to f; false after an error. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static bool sema_form(Sema *s, AstRef r, int64_t mult, SemaForm *f)
{
	const AstExpr *e = &s->prog->ex[r];
	int64_t v;
	switch (e->kind) {
	case AST_NUM:
		if (!e->num.integral || e->num.value >= 0x1p62) {
			sema_not_affine(s, e->span, "hold a number that is not an integer below 2^62");
			return false;
		}
		if (__builtin_mul_overflow((int64_t)e->num.value, mult, &v))
			return sema_form_overflow(s, e->span);
		return sema_form_add(s, e->span, &f->c, v);
	case AST_NAME: return sema_form_name(s, e, mult, f);
	case AST_UNARY:
		if (mult == INT64_MIN)
			return sema_form_overflow(s, e->span);
		return sema_form(s, e->op.a, -mult, f);
	case AST_BINARY:
		switch (e->op.op) {
		case TRA_OP_ADD: return sema_form(s, e->op.a, mult, f) && sema_form(s, e->op.b, mult, f);
		case TRA_OP_SUB:
			if (mult == INT64_MIN)
				return sema_form_overflow(s, e->span);
			return sema_form(s, e->op.a, mult, f) && sema_form(s, e->op.b, -mult, f);
		case TRA_OP_MUL: return sema_form_mul(s, e, mult, f);
		case TRA_OP_DIV: return sema_form_div(s, e, mult, f);
		default:
			sema_not_affine(s, e->span, "be a comparison");
			return false;
		}
	case AST_ACCESS: case AST_CALL: case AST_REDUCE: case AST_INF:
		sema_not_affine(s, e->span, sema_form_rejects(e->kind));
		return false;
	case AST_RANGED:
	case AST_PAD:
		break;
	}
	TRAC_BUG("bad subscript kind %d", e->kind);
}

/* The padding value of pad = v: a number, inf, or either negated. */
static bool resolve_pad(Sema *s, AstRef r, double *pad)
{
	const AstExpr *e = &s->prog->ex[r];
	if (strcmp(e->ref.name, "pad") != 0) {
		sema_error(s, e->ref.name_span, "'%s = ...' in a tensor element's brackets: the one "
		           "setting there is pad = VALUE, the value read outside the tensor", e->ref.name);
		return false;
	}
	const AstExpr *v = &s->prog->ex[e->ref.args[0]];
	double sign = 1;
	while (v->kind == AST_UNARY) {
		sign = -sign;
		v = &s->prog->ex[v->op.a];
	}
	if (v->kind == AST_NUM || v->kind == AST_INF) {
		*pad = sign * (v->kind == AST_INF ? INFINITY : v->num.value);
		return true;
	}
	sema_error(s, s->prog->ex[e->ref.args[0]].span, "a padding value is a number, such as 0 or "
	           "-inf");
	return false;
}

/* A plain subscript, an index name bound here: its binding, else -1. */
static int sema_plain_subscript(const Sema *s, AstRef r)
{
	const AstExpr *a = &s->prog->ex[r];
	return a->kind == AST_NAME ? scope_find(s, a->ref.name) : -1;
}

/* An item of an element's brackets that is no subscript. */
static bool sema_misplaced_item(Sema *s, AstRef r, bool last)
{
	const AstExpr *a = &s->prog->ex[r];
	if (a->kind == AST_RANGED) {
		sema_error(s, a->span, "'%s : ...' gives an index its range; that belongs on the "
		           "left-hand side or in a reduction's brackets", a->ref.name);
		return true;
	}
	if (a->kind == AST_PAD && !last) {
		sema_error(s, a->span, "pad = VALUE comes last in a tensor element's brackets");
		return true;
	}
	return false;
}

/* Records an affine access of node (rank dimensions) at e, its forms in coef and off. */
static void sema_add_access(Sema *s, AstRef r, const TraNode *node, int64_t *coef,
                            const int64_t *off, const AstRef *gather, VarMask gmask, bool padded,
                            double pad)
{
	const AstExpr *e = &s->prog->ex[r];
	int nv = 0;
	for (int v = 0; v < s->nvars; v++) {
		bool uses = (gmask >> v) & 1;
		for (int d = 0; d < node->rank; d++)
			uses |= coef[d * TRA_MAX_STMT_INDICES + v] != 0;
		nv += uses;
	}
	if (nv > TRA_MAX_RANK) {
		sema_error(s, e->span, "this element reads '%s' through %d indices; at most %d are "
		           "supported in one element with index arithmetic", node->name, nv, TRA_MAX_RANK);
		return;
	}
	ARENA_RESERVE(s->arena, s->acc, s->nacc, s->acccap);
	SemaAccess *a = &s->acc[s->nacc];
	*a = (SemaAccess){.at = r, .node = (int)(node - s->g->nodes), .rank = node->rank,
	                  .coef = coef, .padded = padded, .pad = pad};
	a->off = arena_alloc(s->arena, (size_t)(node->rank + 1) * sizeof *a->off);
	memcpy(a->off, off, (size_t)node->rank * sizeof *off);
	a->gather = arena_alloc(s->arena, (size_t)(node->rank + 1) * sizeof *a->gather);
	for (int d = 0; d < node->rank; d++)
		a->gather[d] = gather ? gather[d] : -1;
	a->gmask = gmask;
	s->expr_access[r] = s->nacc++;
}

/* Whether subscript r reads a tensor: a gather (E[tok[b, t], c]). */
static bool sema_is_gather(const Sema *s, AstRef r)
{
	const AstExpr *a = &s->prog->ex[r];
	if (a->kind == AST_ACCESS)
		return true;
	if (a->kind != AST_NAME || scope_find(s, a->ref.name) >= 0)
		return false;
	Sym *sym = sema_lookup(s, a->ref.name);
	return sym && sym->kind == SYM_TENSOR;
}

/* Resolves r as an expression of its own type (a conversion's argument,
 * argmax's body, a gather's subscript), which *t gets: that of the
 * tensors it reads, or dflt where it reads none. The statement's type
 * is left as it was. */
static VarMask resolve_own_type(Sema *s, AstRef r, TrartDtype dflt, TrartDtype *t)
{
	bool typed = s->typed;
	TrartDtype type = s->type;
	Span type_at = s->type_at;
	s->typed = false;
	VarMask m = resolve(s, r, false);
	*t = s->typed ? s->type : dflt;
	s->typed = typed;
	s->type = type;
	s->type_at = type_at;
	return m;
}

/* A gather's subscript: an element of an integer tensor, checked as an
 * expression of its own type. */
static VarMask resolve_gather(Sema *s, AstRef r, bool *ok)
{
	int errors = s->nerr_stmt;
	TrartDtype it;
	VarMask m = resolve_own_type(s, r, TRART_F32, &it);
	const AstExpr *a = &s->prog->ex[r];
	if (s->nerr_stmt == errors && !TRART_IS_INT(it))
		sema_error(s, a->span, "'%s' is %s: a subscript that reads a tensor (a gather) reads "
		           "an integer tensor, i32 or i64; convert it, as i64(...), in a statement of "
		           "its own", a->ref.name, trart_dtype_name(it));
	*ok &= s->nerr_stmt == errors;
	return m;
}

static VarMask resolve_access(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	int nsub = e->ref.nargs;
	bool padded = false;
	double pad = 0;
	if (nsub > 0 && s->prog->ex[e->ref.args[nsub - 1]].kind == AST_PAD)
		padded = resolve_pad(s, e->ref.args[--nsub], &pad);
	int npad = 0; /* misplaced ones, reported below: not subscripts either */
	for (int d = 0; d < nsub; d++)
		npad += s->prog->ex[e->ref.args[d]].kind == AST_PAD;
	const TraNode *node = resolve_tensor(s, e, nsub - npad);
	int64_t *coef = arena_alloc(s->arena, (size_t)(nsub + 1) * TRA_MAX_STMT_INDICES * sizeof *coef);
	int64_t off[TRA_MAX_RANK] = {0};
	AstRef gather[TRA_MAX_RANK];
	bool affine = false, ok = true, gathers = false;
	VarMask m = 0, gmask = 0;
	for (int i = 0, d = -1; i < nsub; i++) {
		AstRef a = e->ref.args[i];
		if (sema_misplaced_item(s, a, false)) {
			ok = false;
			continue;
		}
		d++; /* the dimension this subscript is for */
		int64_t *row = coef + (size_t)d * TRA_MAX_STMT_INDICES;
		if (d < TRA_MAX_RANK)
			gather[d] = -1;
		int v = sema_plain_subscript(s, a);
		if (v < 0 && sema_is_gather(s, a)) {
			VarMask g = resolve_gather(s, a, &ok);
			if (d < TRA_MAX_RANK)
				gather[d] = a;
			gmask |= g;
			m |= g;
			affine = gathers = true;
		} else if (v >= 0) {
			s->expr_var[a] = v;
			s->vars[v].used = true;
			row[v] = 1;
			/* a written range may read the first elements only (a slice),
			 * or more than there are, padded (sema_plain_view) */
			const Binding *b = &s->vars[v];
			bool fits = b->given && node && (b->range <= node->idx[d].size || padded);
			if (node && !fits)
				sema_range(s, v, node, d, s->prog->ex[a].span);
		} else {
			SemaForm f = {row, 0};
			ok &= sema_form(s, a, 1, &f);
			if (d < TRA_MAX_RANK)
				off[d] = f.c;
			affine = true;
			for (int u = 0; u < s->nvars; u++)
				if (row[u])
					s->vars[u].affine = true;
		}
		for (int u = 0; u < s->nvars; u++)
			if (row[u])
				m |= (VarMask)1 << u;
	}
	if (node && ok && affine)
		sema_add_access(s, r, node, coef, off, gathers ? gather : NULL, gmask, padded, pad);
	return m;
}

static VarMask resolve_name(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	int v = scope_find(s, e->ref.name);
	if (v >= 0) {
		s->expr_var[r] = v;
		s->vars[v].used = true;
		return (VarMask)1 << v;
	}
	Sym *sym = sema_lookup(s, e->ref.name);
	if (!sym && s->too_many)
		s->nerr_stmt++; /* most likely an index past the limit: reported */
	else if (!sym)
		sema_undefined(s, e->ref.name, e->span, "name",
		               SUGGEST_SIZES | SUGGEST_TENSORS | SUGGEST_INDICES);
	else if (sym->broken)
		s->nerr_stmt++; /* reported at its definition */
	else if (sym->kind == SYM_TENSOR)
		resolve_tensor(s, e, 0);
	else
		sym->used = true;
	return 0;
}

/* The functions of the language, by name. */
static const struct {
	const char *name;
	TraOp op;
	int arity;
} sema_funcs[] = {
	{"exp", TRA_OP_EXP, 1}, {"log", TRA_OP_LOG, 1}, {"sqrt", TRA_OP_SQRT, 1},
	{"tanh", TRA_OP_TANH, 1}, {"sigmoid", TRA_OP_SIGMOID, 1}, {"relu", TRA_OP_RELU, 1},
	{"abs", TRA_OP_ABS, 1}, {"pow", TRA_OP_POW, 2}, {"max", TRA_OP_MAX, 2},
	{"min", TRA_OP_MIN, 2}, {"select", TRA_OP_SELECT, 3}, {"floor", TRA_OP_FLOOR, 1},
	{"ceil", TRA_OP_CEIL, 1}, {"round", TRA_OP_ROUND, 1}, {"sign", TRA_OP_SIGN, 1},
	{"rsqrt", TRA_OP_RSQRT, 1}, {"exp2", TRA_OP_EXP2, 1}, {"log2", TRA_OP_LOG2, 1},
	{"expm1", TRA_OP_EXPM1, 1}, {"log1p", TRA_OP_LOG1P, 1}, {"sin", TRA_OP_SIN, 1},
	{"cos", TRA_OP_COS, 1}, {"erf", TRA_OP_ERF, 1},
};

static int sema_func(const char *name)
{
	for (size_t i = 0; i < sizeof sema_funcs / sizeof sema_funcs[0]; i++)
		if (strcmp(sema_funcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Other languages' names for functions of .tra. */
static const struct {
	const char *name, *use;
} sema_func_aliases[] = {
	{"ln", "log"}, {"power", "pow"}, {"where", "select"}, {"maximum", "max"}, {"minimum", "min"},
	{"rint", "round"}, {"fabs", "abs"}, {"absolute", "abs"}, {"log10", "log(x) / log(10)"},
	{"tan", "sin(x) / cos(x)"},
};

/* The function a misspelt or foreign function name most likely means, or NULL. */
static const char *sema_func_suggest(const char *name)
{
	const char *names[sizeof sema_funcs / sizeof sema_funcs[0]];
	for (size_t i = 0; i < sizeof sema_func_aliases / sizeof sema_func_aliases[0]; i++)
		if (strcmp(sema_func_aliases[i].name, name) == 0)
			return sema_func_aliases[i].use;
	for (size_t i = 0; i < sizeof sema_funcs / sizeof sema_funcs[0]; i++)
		names[i] = sema_funcs[i].name;
	return util_suggest(name, names, (int)(sizeof names / sizeof names[0]));
}

/* A call of something that is not a function: a tensor or size written
 * like one (X(i) for X[i], alpha(x + 1) for a product), a misspelling,
 * or a function .tra lacks. */
static void sema_unknown_function(Sema *s, const AstExpr *e)
{
	const char *name = e->ref.name, *near;
	Sym *sym = sema_lookup(s, name);
	if (sym && sym->broken) {
		s->nerr_stmt++; /* reported at its definition */
		return;
	}
	if (sym && sym->kind == SYM_TENSOR && s->g->nodes[sym->node].rank > 0)
		sema_error(s, e->ref.name_span, "'%s' is %s, not a function; read its elements with "
		           "brackets, as %s[...]", name, sym_what(sym), name);
	else if (sym)
		sema_error(s, e->ref.name_span, "'%s' is %s, not a function; to multiply, write "
		           "%s * (...)", name, sym_what(sym), name);
	else if ((near = sema_func_suggest(name)))
		sema_error(s, e->ref.name_span, "unknown function '%s'; did you mean '%s'?", name, near);
	else
		sema_error(s, e->ref.name_span, "unknown function '%s'; the functions are exp log sqrt "
		           "tanh sigmoid relu abs pow max min select", name);
}

static bool is_comparison(const AstExpr *e)
{
	return e->kind == AST_BINARY && e->op.op >= TRA_OP_LT && e->op.op <= TRA_OP_NE;
}

/* The type a conversion function names (f32 f64 i32 i64), or -1. */
static int sema_conversion(const char *name)
{
	static const char *const names[] = {"f32", "f64", "i32", "i64"};
	static const TrartDtype types[] = {TRART_F32, TRART_F64, TRART_I32, TRART_I64};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return (int)types[i];
	return -1;
}

/* to(x): x is checked as an expression of its own type (that of the
 * tensors it reads, or to itself where it reads none), the call reads
 * as a tensor of type to. */
static VarMask resolve_convert(Sema *s, AstRef r, TrartDtype to)
{
	const AstExpr *e = &s->prog->ex[r];
	if (e->ref.nargs != 1) {
		sema_error(s, e->span, "'%s' takes 1 argument, but %d %s given", e->ref.name,
		           e->ref.nargs, e->ref.nargs == 1 ? "is" : "are");
		return 0;
	}
	VarMask m = resolve_own_type(s, e->ref.args[0], to, &s->conv_from[r]);
	s->free_vars[r] = m;
	sema_type(s, to, arena_printf(s->arena, "%s(...)", e->ref.name), e->ref.name_span);
	return m;
}

static VarMask resolve_call(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	int to = sema_conversion(e->ref.name);
	if (to >= 0)
		return resolve_convert(s, r, (TrartDtype)to);
	if (strcmp(e->ref.name, "grad") == 0) {
		sema_error(s, e->ref.name_span, "grad(...) is a statement of its own: write "
		           "'dW = grad(L, W)' and read dW");
		return 0;
	}
	int f = sema_func(e->ref.name);
	if (f < 0) {
		sema_unknown_function(s, e);
		return 0;
	}
	if (e->ref.nargs != sema_funcs[f].arity) {
		sema_error(s, e->span, "'%s' takes %d argument%s, but %d %s given", e->ref.name,
		           sema_funcs[f].arity, sema_funcs[f].arity == 1 ? "" : "s",
		           e->ref.nargs, e->ref.nargs == 1 ? "is" : "are");
		return 0;
	}
	bool select = sema_funcs[f].op == TRA_OP_SELECT;
	if (select && !is_comparison(&s->prog->ex[e->ref.args[0]]))
		sema_error(s, s->prog->ex[e->ref.args[0]].span,
		           "the first argument of select must be a comparison (< <= > >= == !=)");
	VarMask m = 0;
	for (int i = 0; i < e->ref.nargs; i++)
		m |= resolve(s, e->ref.args[i], select && i == 0);
	return m;
}

/* The range written in i : N for binding v (an error unless at least 1). */
static void sema_given_range(Sema *s, int v, const AstExpr *a)
{
	int64_t n;
	AstRef r = a->ref.args[0];
	if (!size_eval(s, r, &n))
		return;
	if (n < 1) {
		sema_error(s, s->prog->ex[r].span, "the range of index '%s' must be at least 1, "
		           "but is %" PRId64, a->ref.name, n);
		return;
	}
	Binding *b = &s->vars[v];
	b->range = n;
	b->given = true;
	b->range_at = a->span;
	b->sname = s->prog->ex[r].kind == AST_NAME ? s->prog->ex[r].ref.name : NULL;
}

/* An index in the brackets of a left-hand side or a reduction: a name,
 * or a name with its range; NULL (after an error) for anything else. */
static const AstExpr *sema_binding_item(Sema *s, AstRef r, bool reduction)
{
	const AstExpr *a = &s->prog->ex[r];
	if (a->kind == AST_NAME || a->kind == AST_RANGED)
		return a;
	if (a->kind == AST_PAD)
		sema_error(s, a->span, "pad = VALUE belongs in a tensor element's brackets, not in %s",
		           reduction ? "a reduction's" : "the left-hand side's");
	else if (reduction)
		sema_error(s, a->span, "a reduction lists index names");
	else
		sema_error(s, a->span, "the left-hand side's subscripts must be index names");
	return NULL;
}

/* Binds a reduction's indices; returns their mask, or sets *ok false. */
static VarMask resolve_reduce_indices(Sema *s, const AstExpr *e, bool *ok)
{
	VarMask own = 0;
	for (int i = 0; i < e->red.nidx; i++) {
		const AstExpr *a = sema_binding_item(s, e->red.idx[i], true);
		if (!a) {
			*ok = false;
			continue;
		}
		int old = scope_find(s, a->ref.name);
		if (old >= 0) {
			bool mine = (own >> old) & 1;
			sema_error(s, a->span, mine ? "index '%s' is listed twice" :
			           "reduction index '%s' shadows an index that is already bound", a->ref.name);
			diag_note(s->diag, s->vars[old].span, mine ? "'%s' is first listed here" :
			          "'%s' is bound here", a->ref.name);
			*ok = false;
			continue;
		}
		int v = sema_bind(s, a->ref.name, a->span, true);
		if (v < 0) {
			*ok = false;
			continue;
		}
		own |= (VarMask)1 << v;
		s->expr_var[e->red.idx[i]] = v;
		s->scope[s->nscope++] = v;
		if (a->kind == AST_RANGED)
			sema_given_range(s, v, a);
	}
	return own;
}

/* Every binding in mask must occur in its expression and have a range:
 * written, or from a subscript. An index read in an affine subscript
 * may get it later (sema_infer_ranges), unless final. */
static void sema_check_ranges(Sema *s, VarMask mask, const char *where, bool final)
{
	for (int v = 0; v < s->nvars; v++) {
		if (!((mask >> v) & 1))
			continue;
		const Binding *b = &s->vars[v];
		if (!b->used)
			sema_error(s, b->span, "index '%s' does not occur in %s", b->name, where);
		else if (b->range == 0 && b->affine && final)
			sema_error(s, b->span, "the range of index '%s' cannot be inferred: the subscripts "
			           "it occurs in have other indices of unknown range too; give its range, "
			           "as %s:N", b->name, b->name);
		else if (b->range == 0 && !b->affine)
			sema_error(s, b->span, "the range of index '%s' cannot be inferred: it is never "
			           "used as a subscript; give its range, as %s:N", b->name, b->name);
	}
}

static VarMask resolve_reduce(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	int nscope = s->nscope;
	bool ok = true, arg = TRA_AGG_IS_ARG(e->red.agg);
	if (arg && e->red.nidx != 1) {
		sema_error(s, e->red.agg_span, "%s takes exactly one index, the one whose position it "
		           "finds", ast_agg_name(e->red.agg));
		ok = false;
	}
	VarMask own = resolve_reduce_indices(s, e, &ok);
	int errors = s->nerr_stmt;
	/* argmax and argmin read their body in its own type, and are i64 */
	VarMask body = arg ? resolve_own_type(s, e->red.body, TRART_F32, &s->conv_from[r]) :
	                     resolve(s, e->red.body, false);
	if (arg) {
		sema_type(s, TRART_I64, arena_printf(s->arena, "%s[...](...)", ast_agg_name(e->red.agg)),
		          e->red.agg_span);
	}
	s->nscope = nscope;
	/* an erroneous body may hide the subscripts that give the ranges */
	if (ok && s->nerr_stmt == errors)
		sema_check_ranges(s, own, "the reduction's body", false);
	s->free_vars[r] = body & ~own;
	return body & ~own;
}

/* Pass 1 over an expression: returns the bindings it uses freely. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static VarMask resolve(Sema *s, AstRef r, bool cmp_ok)
{
	const AstExpr *e = &s->prog->ex[r];
	switch (e->kind) {
	case AST_NUM:
	case AST_INF:
		return 0;
	case AST_NAME:
		return resolve_name(s, r);
	case AST_ACCESS:
		return resolve_access(s, r);
	case AST_CALL:
		return resolve_call(s, r);
	case AST_UNARY:
		return resolve(s, e->op.a, false);
	case AST_BINARY:
		if (is_comparison(e) && !cmp_ok)
			sema_error(s, e->span, "a comparison is allowed only as the first argument of select");
		return resolve(s, e->op.a, false) | resolve(s, e->op.b, false);
	case AST_REDUCE:
		return resolve_reduce(s, r);
	case AST_RANGED: /* only in brackets, which the callers read item by item */
	case AST_PAD:
		break;
	}
	TRAC_BUG("bad AST kind %d", e->kind);
}

/* Binds the left-hand indices of a definition. */
static bool resolve_lhs(Sema *s, const AstStmt *st)
{
	if (st->nidx > TRA_MAX_RANK) {
		sema_error(s, st->span, "tensor '%s' has %d dimensions; at most %d are supported",
		           st->name, st->nidx, TRA_MAX_RANK);
		return false;
	}
	for (int i = 0; i < st->nidx; i++) {
		const AstExpr *a = sema_binding_item(s, st->idx[i], false);
		if (!a)
			continue;
		int old = scope_find(s, a->ref.name);
		if (old >= 0) {
			sema_error(s, a->span, "index '%s' appears twice on the left-hand side", a->ref.name);
			diag_note(s->diag, s->vars[old].span, "first use of '%s'", a->ref.name);
			continue;
		}
		int v = sema_bind(s, a->ref.name, a->span, false);
		if (v >= 0) {
			s->expr_var[st->idx[i]] = v;
			s->scope[s->nscope++] = v;
			if (a->kind == AST_RANGED)
				sema_given_range(s, v, a);
		}
	}
	return true;
}


/* ---- integer statements ----------------------------------------------------- */

/* Whether function op computes in floating point only (an integer
 * statement may use + - * /, abs, sign, relu, max, min and select). */
static bool sema_float_only(TraOp op)
{
	switch (op) {
	case TRA_OP_ABS: case TRA_OP_SIGN: case TRA_OP_RELU: case TRA_OP_MAX: case TRA_OP_MIN:
	case TRA_OP_SELECT:
		return false;
	default:
		return true;
	}
}

/* A number in an expression of type t: an integer type takes integers. */
static void sema_check_number(Sema *s, Span at, double v, TrartDtype t)
{
	if (TRART_IS_INT(t) && !(v == floor(v) && fabs(v) < 0x1p63))
		sema_error(s, at, "'%.*s' is not an integer, but this is %s arithmetic; compute in "
		           "floating point and convert, as f64(...)", (int)(at.hi - at.lo),
		           s->src->text + at.lo, trart_dtype_name(t));
}

/* The rules of integer arithmetic in expression r, computed in type t. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static void sema_check_types(Sema *s, AstRef r, TrartDtype t)
{
	const AstExpr *e = &s->prog->ex[r];
	bool is_int = TRART_IS_INT(t);
	switch (e->kind) {
	case AST_NUM:
		sema_check_number(s, e->span, e->num.value, t);
		return;
	case AST_INF:
		if (is_int)
			sema_error(s, e->span, "inf is not an integer, but this is %s arithmetic",
			           trart_dtype_name(t));
		return;
	case AST_CALL:
		if (sema_conversion(e->ref.name) >= 0) {
			sema_check_types(s, e->ref.args[0], s->conv_from[r]);
			return;
		}
		if (is_int && sema_float_only(sema_funcs[sema_func(e->ref.name)].op))
			sema_error(s, e->ref.name_span, "'%s' computes in floating point, but this is %s "
			           "arithmetic; convert its argument, as %s(f64(...))", e->ref.name,
			           trart_dtype_name(t), e->ref.name);
		for (int i = 0; i < e->ref.nargs; i++)
			sema_check_types(s, e->ref.args[i], t);
		return;
	case AST_ACCESS: {
		int n = e->ref.nargs;
		const AstExpr *pad = n ? &s->prog->ex[e->ref.args[n - 1]] : NULL;
		Sym *sym = sema_lookup(s, e->ref.name);
		double v;
		TrartDtype xt = s->g->nodes[sym->node].type;
		if (pad && pad->kind == AST_PAD && resolve_pad(s, e->ref.args[n - 1], &v) &&
		    TRART_IS_INT(xt) && !(v == floor(v) && fabs(v) < 0x1p63))
			sema_error(s, pad->span, "'%s' is %s, so its padding value must be an integer",
			           e->ref.name, trart_dtype_name(xt));
		return;
	}
	case AST_REDUCE:
		if (is_int && e->red.agg == TRA_AGG_MEAN)
			sema_error(s, e->red.agg_span, "mean of %s values: sum them and convert, as "
			           "f64(sum[...](...)) / N", trart_dtype_name(t));
		sema_check_types(s, e->red.body, TRA_AGG_IS_ARG(e->red.agg) ? s->conv_from[r] : t);
		return;
	case AST_UNARY:
		sema_check_types(s, e->op.a, t);
		return;
	case AST_BINARY:
		sema_check_types(s, e->op.a, t);
		sema_check_types(s, e->op.b, t);
		return;
	default:
		return;
	}
}

/* ---- affine subscripts: ranges and bounds -------------------------------------- */

/* The positions dimension d of access a reads: [*lo, *hi], over the
 * bindings' ranges (all known). */
static void sema_access_span(const Sema *s, const SemaAccess *a, int d, int64_t *lo, int64_t *hi)
{
	const int64_t *row = a->coef + (size_t)d * TRA_MAX_STMT_INDICES;
	*lo = *hi = a->off[d];
	for (int v = 0; v < s->nvars; v++) {
		int64_t c = row[v], span = c * (s->vars[v].range - 1);
		*(c > 0 ? hi : lo) += span;
	}
}

/* The most elements binding x may range over so that dimension d of
 * access a, whose other bindings have ranges, stays in bounds (< 1: none). */
static int64_t sema_most_range(const Sema *s, const SemaAccess *a, int d, int x)
{
	const int64_t *row = a->coef + (size_t)d * TRA_MAX_STMT_INDICES;
	int64_t lo = a->off[d], hi = a->off[d];
	for (int v = 0; v < s->nvars; v++)
		if (v != x)
			*(row[v] > 0 ? &hi : &lo) += row[v] * (s->vars[v].range - 1);
	int64_t size = s->g->nodes[a->node].idx[d].size, c = row[x];
	int64_t room = c > 0 ? size - 1 - hi : lo;
	if (lo < 0 || hi > size - 1 || room < 0)
		return 0;
	return room / (c > 0 ? c : -c) + 1;
}

/* The binding of dimension d of access a whose range is unknown, if it
 * is the only one; else -1. */
static int sema_sole_unknown(const Sema *s, const SemaAccess *a, int d)
{
	const int64_t *row = a->coef + (size_t)d * TRA_MAX_STMT_INDICES;
	int x = -1;
	for (int v = 0; v < s->nvars; v++)
		if (row[v] != 0 && s->vars[v].range == 0) {
			if (x >= 0)
				return -1;
			x = v;
		}
	return x;
}

/* The binding of dimension d of access a whose range came from plain
 * subscripts (not written) and would read outside, if it is the only
 * such binding there and every binding has a range; else -1. */
static int sema_sole_cappable(const Sema *s, const SemaAccess *a, int d)
{
	const int64_t *row = a->coef + (size_t)d * TRA_MAX_STMT_INDICES;
	int x = -1;
	for (int v = 0; v < s->nvars; v++) {
		if (row[v] == 0)
			continue;
		if (s->vars[v].range == 0)
			return -1;
		if (!s->vars[v].given && s->vars[v].plain_min > 0) {
			if (x >= 0)
				return -1;
			x = v;
		}
	}
	return x >= 0 && sema_most_range(s, a, d, x) < s->vars[x].range ? x : -1;
}

/* Tensor Comprehensions' rule: an index without a range that is the only
 * one of unknown range in an unpadded affine subscript gets the largest
 * range that keeps every such subscript in bounds, and one whose range
 * plain subscripts gave is narrowed to it (the ranges' intersection);
 * repeated while that gives ranges to more. */
static void sema_infer_ranges(Sema *s)
{
	for (;;) {
		int64_t most[TRA_MAX_STMT_INDICES];
		Span at[TRA_MAX_STMT_INDICES];
		bool any = false;
		for (int v = 0; v < s->nvars; v++)
			most[v] = -1;
		for (int i = 0; i < s->nacc; i++) {
			const SemaAccess *a = &s->acc[i];
			for (int d = 0; a->padded ? false : d < a->rank; d++) {
				int x = sema_sole_unknown(s, a, d);
				if (x < 0)
					x = sema_sole_cappable(s, a, d);
				if (x < 0)
					continue;
				int64_t n = sema_most_range(s, a, d, x);
				if (most[x] < 0 || n < most[x]) {
					most[x] = n;
					at[x] = s->prog->ex[s->prog->ex[a->at].ref.args[d]].span;
				}
			}
		}
		for (int v = 0; v < s->nvars; v++) {
			if (most[v] < 0)
				continue;
			if (most[v] < 1) {
				sema_error(s, at[v], "no range of index '%s' keeps this subscript within its "
				           "tensor; read it with a padding value (pad=0 last in the brackets), "
				           "or give the other indices smaller ranges", s->vars[v].name);
				return;
			}
			s->vars[v].range = most[v];
			s->vars[v].range_at = at[v];
			s->vars[v].sname = NULL;
			any = true;
		}
		if (!any)
			return;
	}
}

/* Every unpadded affine subscript must stay within its tensor. */
static void sema_check_accesses(Sema *s)
{
	for (int i = 0; i < s->nacc; i++) {
		const SemaAccess *a = &s->acc[i];
		const AstExpr *e = &s->prog->ex[a->at];
		const TraNode *x = &s->g->nodes[a->node];
		for (int d = 0; !a->padded && d < a->rank; d++) {
			int64_t lo, hi;
			if (a->gather[d] >= 0)
				continue; /* checked as the program runs */
			sema_access_span(s, a, d, &lo, &hi);
			if (lo >= 0 && hi < x->idx[d].size)
				continue;
			Span sub = s->prog->ex[e->ref.args[d]].span;
			char span[64];
			if (lo == hi)
				snprintf(span, sizeof span, "is %" PRId64, lo);
			else
				snprintf(span, sizeof span, "ranges over %" PRId64 "..%" PRId64, lo, hi);
			sema_error(s, sub, "'%.*s' %s, outside dimension %d of '%s' (0..%" PRId64 "); read "
			           "it with a padding value (pad=0 last in the brackets)%s",
			           (int)(sub.hi - sub.lo), s->src->text + sub.lo, span, d + 1, x->name,
			           x->idx[d].size - 1, lo == hi ? "" : ", or give the indices smaller ranges");
		}
	}
}

/* ---- definitions, pass 2: build the nodes --------------------------------- */

/* A node under construction. */
typedef struct Builder {
	int vars[TRA_MAX_STMT_INDICES]; /* bindings, in the node's index order */
	int nvars;
	int nout;           /* the first nout are output indices */
	TraOperandList ops;
	AstRef main_red;    /* the reduction that is this node's aggregation */
} Builder;

static int build(Sema *s, Builder *b, AstRef r);

static int builder_pos(const Builder *b, int v)
{
	for (int i = 0; i < b->nvars; i++)
		if (b->vars[i] == v)
			return i;
	TRAC_BUG("binding %d is not an index of the node", v);
}

/* The operand reading node at the given bindings, added once. */
static int builder_operand(Sema *s, Builder *b, int node, int rank, const int *vars)
{
	int idx[TRA_MAX_RANK];
	for (int d = 0; d < rank; d++)
		idx[d] = builder_pos(b, vars[d]);
	return tra_operand_add(s->arena, &b->ops, node, rank, idx);
}

/* A literal as the statement's element type computes with it. */
static int build_const(Sema *s, double v)
{
	if (s->type == TRART_F32)
		v = (double)(float)v;
	return tra_expr_new(s->g, TRA_OP_CONST, 0, v, -1, -1, -1);
}

/* The stride, in elements, of one step of binding v in access a's tensor. */
static int64_t sema_access_stride(const Sema *s, const SemaAccess *a, int v)
{
	int64_t st = 0;
	bool gathered = (a->gmask >> v) & 1;
	for (int d = 0; d < a->rank; d++) {
		int64_t sd = tra_node_stride(&s->g->nodes[a->node], d);
		st += a->coef[(size_t)d * TRA_MAX_STMT_INDICES + v] * sd;
		/* an index a gather reads moves through whole rows: outside */
		if (gathered && a->gather[d] >= 0)
			st += sd;
	}
	return st < 0 ? -st : st;
}

/* Sorts vars[lo, hi) by decreasing stride in access a (stable). */
static void sema_sort_by_stride(const Sema *s, const SemaAccess *a, int *vars, int lo, int hi)
{
	for (int i = lo + 1; i < hi; i++)
		for (int j = i; j > lo && sema_access_stride(s, a, vars[j - 1]) < sema_access_stride(s, a, vars[j]); j--) {
			int t = vars[j];
			vars[j] = vars[j - 1];
			vars[j - 1] = t;
		}
}

/* The bindings access a reads, in the order of its view's dimensions:
 * the view is written in that order, so its innermost index should step
 * through the tensor contiguously, and a reader that reduces over some
 * of them (a convolution) should find them together, as a GEMM's K: the
 * output indices with a larger stride than any reduced one (a batch),
 * then the reduced ones, then the other output indices, each group by
 * decreasing stride. Returns how many. */
static int sema_view_order(const Sema *s, const Builder *b, const SemaAccess *a, int *vars)
{
	int64_t red_stride = -1;
	bool uses[TRA_MAX_STMT_INDICES] = {false};
	for (int i = 0; i < b->nvars; i++) {
		uses[i] = (a->gmask >> b->vars[i]) & 1;
		for (int d = 0; d < a->rank; d++)
			uses[i] |= a->coef[(size_t)d * TRA_MAX_STMT_INDICES + b->vars[i]] != 0;
	}
	for (int i = b->nout; i < b->nvars; i++)
		if (uses[i] && sema_access_stride(s, a, b->vars[i]) > red_stride)
			red_stride = sema_access_stride(s, a, b->vars[i]);
	int n = 0, g1, g2;
	for (int i = 0; i < b->nout; i++)
		if (uses[i] && red_stride >= 0 && sema_access_stride(s, a, b->vars[i]) > red_stride)
			vars[n++] = b->vars[i];
	sema_sort_by_stride(s, a, vars, 0, n);
	g1 = n;
	for (int i = b->nout; i < b->nvars; i++)
		if (uses[i])
			vars[n++] = b->vars[i];
	sema_sort_by_stride(s, a, vars, g1, n);
	g2 = n;
	for (int i = 0; i < b->nout; i++)
		if (uses[i] && !(red_stride >= 0 && sema_access_stride(s, a, b->vars[i]) > red_stride))
			vars[n++] = b->vars[i];
	sema_sort_by_stride(s, a, vars, g2, n);
	return n;
}

static int build_tensor(Sema *s, Builder *b, const AstExpr *e);
static int build_name(Sema *s, Builder *b, AstRef r);

/* A view node (tra_node_is_view) named name, of element type type: access
 * a over the bindings vars[0 .. nv), in that order, converted to type. */
static int sema_view_node(Sema *s, const SemaAccess *a, TrartDtype type, const char *name, Span span,
                          const int *vars, int nv)
{
	const TraNode *x = &s->g->nodes[a->node];
	TraAffine *aff = arena_alloc(s->arena, sizeof *aff);
	aff->coef = arena_alloc(s->arena, ((size_t)a->rank * (size_t)nv + 1) * sizeof *aff->coef);
	aff->off = arena_alloc(s->arena, (size_t)(a->rank + 1) * sizeof *aff->off);
	aff->padded = a->padded;
	aff->pad = x->type == TRART_F32 ? (double)(float)a->pad : a->pad;
	/* a gather's index tensors: operands 1, 2, ... of the view, read at its indices */
	Builder vb = {.main_red = -1, .nvars = nv, .nout = nv};
	memcpy(vb.vars, vars, (size_t)nv * sizeof *vars);
	ARENA_RESERVE(s->arena, vb.ops.ops, vb.ops.n, vb.ops.cap);
	vb.ops.ops[0] = (TraOperand){.node = -1}; /* the tensor the view reads, below */
	vb.ops.n = 1;
	for (int d = 0; d < a->rank; d++) {
		if (!a->gather || a->gather[d] < 0)
			continue;
		if (!aff->gather) {
			aff->gather = arena_alloc(s->arena, (size_t)(a->rank + 1) * sizeof *aff->gather);
			for (int e = 0; e < a->rank; e++)
				aff->gather[e] = -1;
		}
		AstRef ga = a->gather[d];
		int ge = s->prog->ex[ga].kind == AST_ACCESS ? build_tensor(s, &vb, &s->prog->ex[ga]) :
		                                             build_name(s, &vb, ga);
		aff->gather[d] = s->g->ex[ge].arg;
	}
	TraOperand *op = vb.ops.ops;
	*op = (TraOperand){.node = a->node, .rank = a->rank, .aff = aff};
	op->idx = arena_alloc(s->arena, (size_t)(a->rank + 1) * sizeof *op->idx);
	for (int d = 0; d < a->rank; d++) {
		aff->off[d] = a->off[d];
		op->idx[d] = -1;
		for (int p = 0; p < nv; p++) {
			int64_t c = a->coef[(size_t)d * TRA_MAX_STMT_INDICES + vars[p]];
			aff->coef[d * nv + p] = c;
			if (c != 0 && op->idx[d] < 0)
				op->idx[d] = p;
		}
	}
	TraNode n = {.kind = TRA_NODE_EINSUM, .name = name, .span = span, .type = type, .view = true,
	             .rank = nv, .nidx = nv, .agg = TRA_AGG_NONE, .nops = vb.ops.n, .ops = op,
	             .epilogue = -1};
	n.join = tra_expr_new(s->g, TRA_OP_OPERAND, 0, 0, -1, -1, -1);
	n.idx = arena_alloc(s->arena, (size_t)(nv + 1) * sizeof *n.idx);
	for (int p = 0; p < nv; p++) {
		const Binding *v = &s->vars[vars[p]];
		n.idx[p] = (TraIndex){v->name, v->range, v->sname};
	}
	int id = tra_node_new(s->g, &n);
	tra_node_cost(s->g, &s->g->nodes[id]);
	return id;
}

/* A plain element (every subscript an index) whose indices' ranges are
 * not its dimensions (a written range that slices it or pads it, or the
 * intersection with an affine read's): recorded as an affine access, so
 * that it becomes a view. Returns its SemaAccess, or -1 when it reads
 * the tensor whole. */
static int sema_plain_view(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	const TraNode *node = &s->g->nodes[sema_lookup(s, e->ref.name)->node];
	bool whole = true;
	for (int d = 0; d < node->rank; d++)
		whole &= s->vars[s->expr_var[e->ref.args[d]]].range == node->idx[d].size;
	if (whole)
		return -1;
	int64_t *coef = arena_alloc(s->arena, (size_t)(node->rank + 1) * TRA_MAX_STMT_INDICES * sizeof *coef);
	int64_t off[TRA_MAX_RANK] = {0};
	for (int d = 0; d < node->rank; d++)
		coef[(size_t)d * TRA_MAX_STMT_INDICES + s->expr_var[e->ref.args[d]]] = 1;
	double pad = 0;
	bool padded = e->ref.nargs > node->rank && resolve_pad(s, e->ref.args[node->rank], &pad);
	sema_add_access(s, r, node, coef, off, NULL, 0, padded, pad);
	return s->expr_access[r];
}

static int build_tensor(Sema *s, Builder *b, const AstExpr *e)
{
	int acc = s->expr_access[e - s->prog->ex];
	if (acc < 0 && e->kind == AST_ACCESS)
		acc = sema_plain_view(s, (AstRef)(e - s->prog->ex));
	if (acc >= 0) {
		int vars[TRA_MAX_STMT_INDICES];
		int nv = sema_view_order(s, b, &s->acc[acc], vars);
		const char *name = arena_printf(s->arena, "%s.v%d", s->stmt->name, ++s->nview);
		int view = sema_view_node(s, &s->acc[acc], s->g->nodes[s->acc[acc].node].type, name,
		                          e->span, vars, nv);
		int k = builder_operand(s, b, view, nv, vars);
		return tra_expr_new(s->g, TRA_OP_OPERAND, k, 0, -1, -1, -1);
	}
	Sym *sym = sema_lookup(s, e->ref.name);
	int vars[TRA_MAX_RANK];
	for (int d = 0; d < e->ref.nargs; d++)
		vars[d] = s->expr_var[e->ref.args[d]];
	int k = builder_operand(s, b, sym->node, e->ref.nargs, vars);
	return tra_expr_new(s->g, TRA_OP_OPERAND, k, 0, -1, -1, -1);
}

static int build_name(Sema *s, Builder *b, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	int v = s->expr_var[r];
	if (v >= 0)
		return tra_expr_new(s->g, TRA_OP_INDEX, builder_pos(b, v), 0, -1, -1, -1);
	Sym *sym = sema_lookup(s, e->ref.name);
	if (sym->kind == SYM_SIZE)
		return build_const(s, (double)sym->value);
	return build_tensor(s, b, e);
}

static int builder_order(const Builder *outer, VarMask mask, int *vars);
static int builder_finish(Sema *s, Builder *b, const char *name, Span span, TraAgg agg, int join, int epi);

/* The identity access of node id over bindings vars (one per dimension). */
static SemaAccess sema_identity_access(Sema *s, int id, const int *vars)
{
	const TraNode *n = &s->g->nodes[id];
	SemaAccess a = {.node = id, .rank = n->rank};
	a.coef = arena_alloc(s->arena, (size_t)(n->rank + 1) * TRA_MAX_STMT_INDICES * sizeof *a.coef);
	a.off = arena_alloc(s->arena, (size_t)(n->rank + 1) * sizeof *a.off);
	for (int d = 0; d < n->rank; d++)
		a.coef[(size_t)d * TRA_MAX_STMT_INDICES + vars[d]] = 1;
	return a;
}

/* to(x) as an operand of b: a view of x's values converted to type to;
 * x is first a node of its own (in its type) unless it is one tensor
 * element. A conversion to x's own type is x. */
static int build_convert(Sema *s, Builder *b, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	TrartDtype to = (TrartDtype)sema_conversion(e->ref.name), from = s->conv_from[r];
	AstRef x = e->ref.args[0];
	if (from == to)
		return build(s, b, x);
	const char *name = arena_printf(s->arena, "%s.v%d", s->stmt->name, ++s->nview);
	int vars[TRA_MAX_STMT_INDICES], nv;
	SemaAccess a;
	const AstExpr *xe = &s->prog->ex[x];
	if (xe->kind == AST_ACCESS || (xe->kind == AST_NAME && s->expr_var[x] < 0 &&
	                               sema_lookup(s, xe->ref.name)->kind == SYM_TENSOR)) {
		int acc = xe->kind == AST_ACCESS ? s->expr_access[x] : -1;
		if (acc < 0 && xe->kind == AST_ACCESS)
			acc = sema_plain_view(s, x);
		if (acc >= 0) {
			a = s->acc[acc];
			nv = sema_view_order(s, b, &a, vars);
		} else { /* a plain element read whole */
			int id = sema_lookup(s, xe->ref.name)->node;
			for (nv = 0; nv < xe->ref.nargs; nv++)
				vars[nv] = s->expr_var[xe->ref.args[nv]];
			a = sema_identity_access(s, id, vars);
		}
	} else {
		/* x over its free indices, in b's order, as a node of type from */
		Builder xb = {.main_red = -1};
		xb.nout = xb.nvars = builder_order(b, s->free_vars[r], xb.vars);
		TrartDtype type = s->type; /* builds in the argument's type */
		s->type = from;
		int join = build(s, &xb, x);
		const char *xname = arena_printf(s->arena, "%s.v%d", s->stmt->name, ++s->nview);
		int id = builder_finish(s, &xb, xname, xe->span, TRA_AGG_NONE, join, -1);
		s->type = type;
		nv = xb.nvars;
		memcpy(vars, xb.vars, (size_t)nv * sizeof *vars);
		a = sema_identity_access(s, id, vars);
	}
	int view = sema_view_node(s, &a, to, name, e->span, vars, nv);
	int k = builder_operand(s, b, view, nv, vars);
	return tra_expr_new(s->g, TRA_OP_OPERAND, k, 0, -1, -1, -1);
}

static int build_call(Sema *s, Builder *b, const AstExpr *e)
{
	if (sema_conversion(e->ref.name) >= 0)
		return build_convert(s, b, (AstRef)(e - s->prog->ex));
	int kid[3] = {-1, -1, -1};
	for (int i = 0; i < e->ref.nargs; i++)
		kid[i] = build(s, b, e->ref.args[i]);
	TraOp op = sema_funcs[sema_func(e->ref.name)].op;
	return tra_expr_new(s->g, op, 0, 0, kid[0], kid[1], kid[2]);
}

/* The aggregate's final value: ACC, divided by the count for mean. */
static int build_acc(Sema *s, const Builder *b, const AstExpr *red)
{
	int acc = tra_expr_new(s->g, TRA_OP_ACC, 0, 0, -1, -1, -1);
	if (red->red.agg != TRA_AGG_MEAN)
		return acc;
	double count = 1;
	for (int i = b->nout; i < b->nvars; i++)
		count *= (double)s->vars[b->vars[i]].range;
	return tra_expr_new(s->g, TRA_OP_DIV, 0, 0, acc, build_const(s, count), -1);
}

/* Appends the node b describes, with join and epilogue built. */
static int builder_finish(Sema *s, Builder *b, const char *name, Span span, TraAgg agg, int join, int epi)
{
	TraNode n = {.kind = TRA_NODE_EINSUM, .name = name, .span = span, .type = s->type,
	             .rank = b->nout, .nidx = b->nvars, .nops = b->ops.n, .ops = b->ops.ops,
	             .join = join, .epilogue = epi};
	n.agg = agg == TRA_AGG_MEAN ? TRA_AGG_SUM : agg;
	n.idx = arena_alloc(s->arena, (size_t)(b->nvars + 1) * sizeof *n.idx);
	for (int i = 0; i < b->nvars; i++) {
		const Binding *v = &s->vars[b->vars[i]];
		n.idx[i] = (TraIndex){v->name, v->range, v->sname};
	}
	int id = tra_node_new(s->g, &n);
	tra_node_cost(s->g, &s->g->nodes[id]);
	return id;
}

/* The bindings of mask, in the order they have in the enclosing node. */
static int builder_order(const Builder *outer, VarMask mask, int *vars)
{
	int n = 0;
	for (int i = 0; i < outer->nvars; i++)
		if ((mask >> outer->vars[i]) & 1)
			vars[n++] = outer->vars[i];
	return n;
}

/* A reduction that is not b's aggregation: a node of its own. */
static int build_split(Sema *s, Builder *outer, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	Builder b = {.main_red = r};
	b.nout = b.nvars = builder_order(outer, s->free_vars[r], b.vars);
	for (int i = 0; i < e->red.nidx; i++)
		b.vars[b.nvars++] = s->expr_var[e->red.idx[i]];
	bool arg = TRA_AGG_IS_ARG(e->red.agg);
	TrartDtype type = s->type;
	if (arg) /* the body in its type, the node an i64 */
		s->type = s->conv_from[r];
	int join = build(s, &b, e->red.body);
	int epi = e->red.agg == TRA_AGG_MEAN ? build_acc(s, &b, e) : -1;
	const char *name = arena_printf(s->arena, "%s.r%d", s->stmt->name, ++s->nsplit);
	int node = builder_finish(s, &b, name, e->span, e->red.agg, join, epi);
	s->type = type;
	if (arg) {
		s->g->nodes[node].arg_type = s->conv_from[r];
		s->g->nodes[node].type = TRART_I64;
		tra_node_cost(s->g, &s->g->nodes[node]);
	}
	int k = builder_operand(s, outer, node, b.nout, b.vars);
	return tra_expr_new(s->g, TRA_OP_OPERAND, k, 0, -1, -1, -1);
}

/* Pass 2 over an expression: its TraExpr in node b. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static int build(Sema *s, Builder *b, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	switch (e->kind) {
	case AST_NUM: return build_const(s, e->num.value);
	case AST_INF: return build_const(s, INFINITY);
	case AST_NAME: return build_name(s, b, r);
	case AST_ACCESS: return build_tensor(s, b, e);
	case AST_CALL: return build_call(s, b, e);
	case AST_UNARY:
		return tra_expr_new(s->g, e->op.op, 0, 0, build(s, b, e->op.a), -1, -1);
	case AST_BINARY: {
		int a = build(s, b, e->op.a);
		return tra_expr_new(s->g, e->op.op, 0, 0, a, build(s, b, e->op.b), -1);
	}
	case AST_REDUCE:
		return r == b->main_red ? build_acc(s, b, e) : build_split(s, b, r);
	case AST_RANGED:
	case AST_PAD:
		break;
	}
	TRAC_BUG("bad AST kind %d", e->kind);
}

/* The first reduction outside any other whose free indices are all of
 * the left-hand side's: the statement node's own aggregation. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static AstRef sema_main_reduction(const Sema *s, AstRef r, VarMask lhs)
{
	const AstExpr *e = &s->prog->ex[r];
	AstRef found = -1;
	switch (e->kind) {
	case AST_REDUCE: /* argmax, argmin: a node of their own (another type) */
		return s->free_vars[r] == lhs && !TRA_AGG_IS_ARG(e->red.agg) ? r : -1;
	case AST_CALL:
		if (sema_conversion(e->ref.name) >= 0)
			return -1; /* its argument is of another type */
		for (int i = 0; i < e->ref.nargs && found < 0; i++)
			found = sema_main_reduction(s, e->ref.args[i], lhs);
		return found;
	case AST_UNARY:
		return sema_main_reduction(s, e->op.a, lhs);
	case AST_BINARY:
		found = sema_main_reduction(s, e->op.a, lhs);
		return found >= 0 ? found : sema_main_reduction(s, e->op.b, lhs);
	default:
		return -1;
	}
}

/* Whether the statement is one affine tensor element that reads every
 * index of its left-hand side. */
static bool sema_whole_view(Sema *s, const AstStmt *st, const Builder *b)
{
	int acc = s->expr_access[st->value];
	if (acc < 0 && s->prog->ex[st->value].kind == AST_ACCESS)
		acc = sema_plain_view(s, st->value);
	if (acc < 0)
		return false;
	const SemaAccess *a = &s->acc[acc];
	for (int i = 0; i < b->nvars; i++) {
		bool uses = (a->gmask >> b->vars[i]) & 1;
		for (int d = 0; d < a->rank; d++)
			uses |= a->coef[(size_t)d * TRA_MAX_STMT_INDICES + b->vars[i]] != 0;
		if (!uses)
			return false;
	}
	return true;
}

static void sema_build_def(Sema *s, const AstStmt *st, VarMask lhs)
{
	Builder b = {.main_red = sema_main_reduction(s, st->value, lhs)};
	for (int i = 0; i < st->nidx; i++)
		b.vars[b.nvars++] = s->expr_var[st->idx[i]];
	b.nout = b.nvars;
	TraAgg agg = TRA_AGG_NONE;
	int join, epi = -1;
	if (b.main_red >= 0) {
		const AstExpr *red = &s->prog->ex[b.main_red];
		for (int i = 0; i < red->red.nidx; i++)
			b.vars[b.nvars++] = s->expr_var[red->red.idx[i]];
		agg = red->red.agg;
		join = build(s, &b, red->red.body);
		if (st->value != b.main_red || agg == TRA_AGG_MEAN)
			epi = build(s, &b, st->value);
	} else if (sema_whole_view(s, st, &b)) {
		/* the statement is one affine element over its left-hand side:
		 * itself the view, not a copy of one */
		const SemaAccess *a = &s->acc[s->expr_access[st->value]];
		int id = sema_view_node(s, a, s->g->nodes[a->node].type, st->name, st->name_span,
		                        b.vars, b.nvars);
		Sym *sym = sema_define(s, st->name, SYM_TENSOR, st->name_span);
		sym->node = id;
		return;
	} else
		join = build(s, &b, st->value);
	int id = builder_finish(s, &b, st->name, st->name_span, agg, join, epi);
	Sym *sym = sema_define(s, st->name, SYM_TENSOR, st->name_span);
	sym->node = id;
}

/* The defined tensor's bytes must fit in 63 bits, as inputs' must. */
static void sema_check_lhs_elements(Sema *s, const AstStmt *st)
{
	TraIndex idx[TRA_MAX_RANK];
	for (int i = 0; i < st->nidx; i++)
		idx[i].size = s->vars[s->expr_var[st->idx[i]]].range;
	sema_check_elements(s, st->span, st->name, idx, st->nidx);
}

/* The free indices of reduction r, "i, j", for messages. */
static const char *sema_free_names(Sema *s, AstRef r)
{
	char *list = arena_printf(s->arena, "%s", "");
	for (int v = 0; v < s->nvars; v++)
		if ((s->free_vars[r] >> v) & 1)
			list = arena_printf(s->arena, "%s%s%s", list, *list ? ", " : "", s->vars[v].name);
	return list;
}

/* A reduction inside an expression becomes a node over its free indices
 * (build_split): that intermediate must have at most TRA_MAX_RANK
 * dimensions and a byte count that fits, as a defined tensor must. */
static void sema_check_split(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	TraIndex idx[TRA_MAX_RANK];
	int rank = 0;
	for (int v = 0; v < s->nvars; v++)
		if ((s->free_vars[r] >> v) & 1) {
			if (rank == TRA_MAX_RANK) {
				sema_error(s, e->span, "this reduction leaves %d indices free (%s): the intermediate "
				           "tensor it makes would have more than %d dimensions; reduce over more "
				           "of them inside it, or split the statement",
				           __builtin_popcountll(s->free_vars[r]), sema_free_names(s, r), TRA_MAX_RANK);
				return;
			}
			idx[rank++].size = s->vars[v].range;
		}
	int64_t n = 8;
	for (int d = 0; d < rank; d++)
		if (__builtin_mul_overflow(n, idx[d].size, &n)) {
			sema_error(s, e->span, "the intermediate tensor this reduction makes (over %s) is too "
			           "large: its size in bytes overflows 64 bits", sema_free_names(s, r));
			return;
		}
}

/* sema_check_split for every reduction in expression r. */
/* Recursive; depth at most PARSE_MAX_NESTING, AST levels (the parser checks it). */
static void sema_check_splits(Sema *s, AstRef r)
{
	const AstExpr *e = &s->prog->ex[r];
	switch (e->kind) {
	case AST_REDUCE:
		sema_check_split(s, r);
		sema_check_splits(s, e->red.body);
		return;
	case AST_CALL:
		for (int i = 0; i < e->ref.nargs; i++)
			sema_check_splits(s, e->ref.args[i]);
		return;
	case AST_UNARY:
		sema_check_splits(s, e->op.a);
		return;
	case AST_BINARY:
		sema_check_splits(s, e->op.a);
		sema_check_splits(s, e->op.b);
		return;
	default:
		return;
	}
}

/* A reduction over an index of one element does nothing: its body does
 * not depend on the index (tra(5), WARNINGS). */
static void sema_warn_trivial_reductions(Sema *s)
{
	for (int v = 0; v < s->nvars; v++)
		if (s->vars[v].reduced && s->vars[v].range == 1)
			diag_warning(s->diag, DIAG_W_TRIVIAL_REDUCTION, s->vars[v].span,
			             "'%s' ranges over one element: this reduction over it has a single "
			             "term and does not depend on it", s->vars[v].name);
}

/* ---- gradients: dW = grad(L, W) ------------------------------------------------ */

/* Whether statement st is a gradient's. */
static bool sema_is_grad(const Sema *s, const AstStmt *st)
{
	const AstExpr *e = &s->prog->ex[st->value];
	return e->kind == AST_CALL && strcmp(e->ref.name, "grad") == 0;
}

/* Argument i of grad (0: L, 1: W): the tensor it names, or NULL after
 * an error (or silently, when the tensor's definition had one). */
static Sym *sema_grad_arg(Sema *s, const AstExpr *call, int i)
{
	static const char *const what[] = {"the scalar to differentiate", "the tensor to differentiate by"};
	const AstExpr *a = &s->prog->ex[call->ref.args[i]];
	if (a->kind != AST_NAME) {
		sema_error(s, a->span, "grad's %s argument is %s: a tensor's name, written without "
		           "brackets", i ? "second" : "first", what[i]);
		return NULL;
	}
	Sym *sym = sema_lookup(s, a->ref.name);
	if (!sym) {
		sema_undefined(s, a->ref.name, a->span, "tensor", SUGGEST_TENSORS);
		return NULL;
	}
	sym->used = true;
	if (sym->broken)
		return NULL;
	if (sym->kind == SYM_SIZE) {
		sema_error(s, a->span, "'%s' is a size; grad's %s argument is %s", a->ref.name,
		           i ? "second" : "first", what[i]);
		return NULL;
	}
	const TraNode *n = &s->g->nodes[sym->node];
	if (TRART_IS_INT(n->type)) {
		sema_error(s, a->span, "'%s' is an %s tensor; only f32 and f64 tensors have gradients",
		           a->ref.name, trart_dtype_name(n->type));
		return NULL;
	}
	if (i == 0 && n->rank > 0) {
		char idx[256] = "";
		size_t len = 0;
		for (int d = 0; d < n->rank && len < sizeof idx - 40; d++)
			if (n->kind == TRA_NODE_INPUT) /* its indices have no names: i, j, k, ... */
				len += (size_t)snprintf(idx + len, sizeof idx - len, "%s%c", d ? ", " : "",
				                        "ijklmnopqrstuvwx"[d % TRA_MAX_RANK]);
			else
				len += (size_t)snprintf(idx + len, sizeof idx - len, "%s%s", d ? ", " : "", n->idx[d].name);
		sema_error(s, a->span, "grad differentiates a scalar, but '%s' has %d dimension%s; reduce "
		           "it first, as in 'L = sum[%s](%s[%s])'", a->ref.name, n->rank, n->rank == 1 ? "" : "s",
		           idx, a->ref.name, idx);
		return NULL;
	}
	return sym;
}

/* The backward pass of node loss: built by its first grad, then shared. */
static GradPass *sema_grad_pass(Sema *s, int loss)
{
	for (int i = 0; i < s->ngrad; i++)
		if (s->grad_loss[i] == loss)
			return s->grad_pass[i];
	ARENA_RESERVE(s->arena, s->grad_loss, s->ngrad, s->gradcap);
	int cap = s->gradcap;
	s->grad_pass = arena_grow(s->arena, s->grad_pass, (size_t)s->ngrad * sizeof *s->grad_pass,
	                          (size_t)cap * sizeof *s->grad_pass);
	s->grad_loss[s->ngrad] = loss;
	s->grad_pass[s->ngrad] = grad_pass(s->g, loss);
	return s->grad_pass[s->ngrad++];
}

/* A node of W's shape and type whose every element is v: the gradient
 * of a loss that does not depend on W (0), or of W itself (1). */
static int sema_grad_constant(Sema *s, const AstStmt *st, int w, double v)
{
	const TraNode *wn = &s->g->nodes[w];
	TraNode n = {.kind = TRA_NODE_EINSUM, .name = st->name, .span = st->name_span, .type = wn->type,
	             .rank = wn->rank, .nidx = wn->rank, .agg = TRA_AGG_NONE, .epilogue = -1};
	n.idx = arena_alloc(s->arena, (size_t)(wn->rank + 1) * sizeof *n.idx);
	memcpy(n.idx, wn->idx, (size_t)wn->rank * sizeof *n.idx);
	n.join = tra_expr_new(s->g, TRA_OP_CONST, 0, v, -1, -1, -1);
	int id = tra_node_new(s->g, &n);
	tra_node_cost(s->g, &s->g->nodes[id]);
	return id;
}

/* The gradient node a, under the statement's name: a itself, or a copy
 * when another gradient statement has named it already. */
static int sema_grad_name(Sema *s, const AstStmt *st, int a)
{
	while (s->gradnamecap < s->g->nnodes + 1) {
		int old = s->gradnamecap, cap = old ? 2 * old : 64;
		s->grad_named = arena_grow(s->arena, s->grad_named, (size_t)old, (size_t)cap);
		s->gradnamecap = cap;
	}
	TraNode *n = &s->g->nodes[a];
	if (!s->grad_named[a]) {
		s->grad_named[a] = true;
		n->name = st->name;
		n->span = st->name_span;
		return a;
	}
	TraNode c = {.kind = TRA_NODE_EINSUM, .name = st->name, .span = st->name_span, .type = n->type,
	             .rank = n->rank, .nidx = n->rank, .agg = TRA_AGG_NONE, .epilogue = -1, .idx = n->idx};
	TraOperandList ops = {0};
	int idx[TRA_MAX_RANK];
	for (int d = 0; d < n->rank; d++)
		idx[d] = d;
	tra_operand_add(s->arena, &ops, a, n->rank, idx);
	c.ops = ops.ops;
	c.nops = ops.n;
	c.join = tra_expr_new(s->g, TRA_OP_OPERAND, 0, 0, -1, -1, -1);
	int id = tra_node_new(s->g, &c);
	tra_node_cost(s->g, &s->g->nodes[id]);
	return id;
}

/* dW = grad(L, W) (tra(5), GRADIENTS). */
static void sema_grad(Sema *s, const AstStmt *st)
{
	const AstExpr *call = &s->prog->ex[st->value];
	s->stmt = st;
	int before = s->diag->nerrors;
	if (st->nidx > 0)
		sema_error(s, s->prog->ex[st->idx[0]].span, "a gradient has the shape of the tensor it is "
		           "taken by; write it without indices, as '%s = grad(L, W)'", st->name);
	Sym *l = NULL, *w = NULL;
	if (call->ref.nargs != 2)
		sema_error(s, call->span, "'grad' takes 2 arguments (the scalar and the tensor to "
		           "differentiate it by: grad(L, W)), but %d %s given", call->ref.nargs,
		           call->ref.nargs == 1 ? "is" : "are");
	else {
		l = sema_grad_arg(s, call, 0);
		w = sema_grad_arg(s, call, 1);
	}
	if (!l || !w || s->diag->nerrors != before) {
		sema_define_broken(s, st->name, SYM_TENSOR, st->name_span);
		return;
	}
	const char *why;
	int a = grad_adjoint(sema_grad_pass(s, l->node), w->node, &why);
	const AstExpr *wa = &s->prog->ex[call->ref.args[1]];
	if (why) {
		sema_error(s, wa->span, "cannot differentiate '%s' by '%s': %s", l->name, w->name, why);
		sema_define_broken(s, st->name, SYM_TENSOR, st->name_span);
		return;
	}
	int id;
	if (a == GRAD_NONE) {
		diag_warning(s->diag, DIAG_W_ZERO_GRADIENT, wa->span, "'%s' does not depend on '%s': "
		             "this gradient is zero", l->name, w->name);
		id = sema_grad_constant(s, st, w->node, 0);
	} else if (a == GRAD_ONE)
		id = sema_grad_constant(s, st, w->node, 1);
	else
		id = sema_grad_name(s, st, a);
	Sym *sym = sema_define(s, st->name, SYM_TENSOR, st->name_span);
	sym->node = id;
}

static void sema_def(Sema *s, const AstStmt *st)
{
	if (sema_check_fresh(s, st->name, st->name_span))
		return;
	if (sema_is_grad(s, st)) {
		sema_grad(s, st);
		return;
	}
	s->stmt = st;
	s->nvars = s->nscope = s->nerr_stmt = s->nsplit = s->nfree = s->nacc = s->nview = 0;
	s->typed = s->too_many = false;
	s->type = TRART_F32;
	if (!resolve_lhs(s, st)) {
		sema_define_broken(s, st->name, SYM_TENSOR, st->name_span);
		return;
	}
	VarMask lhs = 0;
	for (int v = 0; v < s->nvars; v++)
		lhs |= (VarMask)1 << v;
	resolve(s, st->value, false);
	if (s->nerr_stmt == 0)
		sema_check_types(s, st->value, s->type);
	sema_resolve_clashes(s);
	if (s->nerr_stmt == 0)
		sema_infer_ranges(s);
	if (s->nerr_stmt == 0) {
		VarMask all = lhs;
		for (int v = 0; v < s->nvars; v++)
			all |= (VarMask)s->vars[v].affine << v;
		sema_check_ranges(s, all, "the right-hand side", true);
	}
	if (s->nerr_stmt == 0)
		sema_check_accesses(s);
	if (s->nerr_stmt == 0)
		sema_check_lhs_elements(s, st);
	if (s->nerr_stmt == 0)
		sema_check_splits(s, st->value);
	if (s->nerr_stmt == 0)
		sema_warn_trivial_reductions(s);
	if (s->nerr_stmt == 0)
		sema_build_def(s, st, lhs);
	else
		sema_define_broken(s, st->name, SYM_TENSOR, st->name_span);
}

/* ---- outputs and the whole program ------------------------------------------ */

/* Whether some definition (T[...] = ...) names name. */
static bool sema_defines(const Sema *s, const char *name)
{
	const SemaNames *n = sema_names_slot(s, name);
	return n->name && n->defined;
}

/* The first output statement naming name. */
static Span sema_first_output(const Sema *s, const char *name)
{
	const SemaNames *n = sema_names_slot(s, name);
	if (!n->name || n->output < 0)
		TRAC_BUG("no output statement for '%s'", name);
	return s->prog->st[n->output].name_span;
}

static void sema_undefined_output(Sema *s, const AstStmt *st)
{
	const char *near = sema_suggest(s, st->name, SUGGEST_TENSORS);
	if (near)
		sema_error(s, st->name_span, "output '%s' is not defined; did you mean '%s'?", st->name, near);
	else
		sema_error(s, st->name_span, "output '%s' is not defined", st->name);
}

static void sema_outputs(Sema *s)
{
	for (int i = 0; i < s->prog->nst; i++) {
		const AstStmt *st = &s->prog->st[i];
		if (st->kind != AST_STMT_OUTPUT)
			continue;
		Sym *sym = sema_lookup(s, st->name);
		if (!sym) {
			if (sema_first_def(s, st->name) < 0)
				sema_undefined_output(s, st);
			continue; /* a definition with errors: already reported */
		}
		if (sym->broken || (sym->kind == SYM_SIZE && sema_defines(s, st->name)))
			continue; /* its definition's error is reported */
		if (sym->kind == SYM_SIZE) {
			sema_error(s, st->name_span, "'%s' is a size; only tensors can be outputs", st->name);
			continue;
		}
		TraNode *n = &s->g->nodes[sym->node];
		if (n->is_output) {
			sema_error(s, st->name_span, "'%s' is listed as an output twice", st->name);
			diag_note(s->diag, sema_first_output(s, st->name), "first listed here");
			continue;
		}
		n->is_output = true;
		ARENA_RESERVE(s->arena, s->g->outputs, s->g->noutputs, s->g->outcap);
		s->g->outputs[s->g->noutputs++] = sym->node;
	}
}

/* ---- training state: NEXT -> X ---------------------------------------------------- */

/* The tensor a feed names, or NULL after an error (or silently, when its
 * definition had one). */
static Sym *sema_feed_tensor(Sema *s, const char *name, Span at)
{
	Sym *sym = sema_lookup(s, name);
	if (!sym) {
		if (sema_first_def(s, name) < 0)
			sema_undefined(s, name, at, "tensor", SUGGEST_TENSORS);
		return NULL;
	}
	sym->used = true;
	if (sym->broken)
		return NULL;
	if (sym->kind == SYM_SIZE) {
		sema_error(s, at, "'%s' is a size; '->' names a tensor and the input it feeds", name);
		return NULL;
	}
	return sym;
}

/* "f32[4, 8]", for messages. */
static const char *sema_shape_text(Sema *s, const TraNode *n)
{
	char buf[512];
	size_t len = (size_t)snprintf(buf, sizeof buf, "%s", trart_dtype_name(n->type));
	for (int d = 0; d < n->rank && len < sizeof buf - 32; d++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%" PRId64, d ? ", " : "[", n->idx[d].size);
	if (n->rank)
		snprintf(buf + len, sizeof buf - len, "]");
	return arena_strndup(s->arena, buf, strlen(buf));
}

static void sema_add_output(Sema *s, int id)
{
	TraNode *n = &s->g->nodes[id];
	if (n->is_output)
		return;
	n->is_output = true;
	ARENA_RESERVE(s->arena, s->g->outputs, s->g->noutputs, s->g->outcap);
	s->g->outputs[s->g->noutputs++] = id;
}

/* NEXT -> X (tra(5), TRAINING): X an input, NEXT a tensor of its shape
 * and type, which becomes an output (the state after the last step).
 * Resolved after the outputs, so that it may stand anywhere. */
static void sema_feeds(Sema *s)
{
	for (int i = 0; i < s->prog->nst; i++) {
		const AstStmt *st = &s->prog->st[i];
		if (st->kind != AST_STMT_FEED)
			continue;
		Sym *from = sema_feed_tensor(s, st->name, st->name_span);
		Sym *to = sema_feed_tensor(s, st->to, st->to_span);
		if (!from || !to)
			continue;
		const TraNode *fn = &s->g->nodes[from->node], *tn = &s->g->nodes[to->node];
		bool same = fn->rank == tn->rank && fn->type == tn->type;
		for (int d = 0; same && d < fn->rank; d++)
			same = fn->idx[d].size == tn->idx[d].size;
		int first = -1;
		for (int k = 0; k < s->g->nfeeds && first < 0; k++)
			if (strcmp(s->g->feeds[k].to, st->to) == 0)
				first = k;
		if (!to->is_input)
			sema_error(s, st->to_span, "'%s' is not an input; '->' gives an input its value for the "
			           "next step, as in 'w2 -> w'", st->to);
		else if (from == to)
			sema_error(s, st->span, "'%s' feeds itself; name the tensor that holds its next value, as "
			           "in '%s2 -> %s'", st->to, st->to, st->to);
		else if (!same)
			sema_error(s, st->span, "'%s' (%s) cannot feed '%s' (%s): an input takes the next step's "
			           "value from a tensor of its shape and type", st->name, sema_shape_text(s, fn), st->to,
			           sema_shape_text(s, tn));
		else if (first >= 0) {
			sema_error(s, st->to_span, "input '%s' is fed twice", st->to);
			for (int k = 0, n = 0; k < i; k++)
				if (s->prog->st[k].kind == AST_STMT_FEED && strcmp(s->prog->st[k].to, st->to) == 0 &&
				    n++ == 0)
					diag_note(s->diag, s->prog->st[k].span, "first fed here");
		} else {
			ARENA_RESERVE(s->arena, s->g->feeds, s->g->nfeeds, s->g->feedcap);
			s->g->feeds[s->g->nfeeds++] = (struct TraFeed){st->name, st->to};
			sema_add_output(s, from->node);
		}
	}
}

/* ---- warnings about the whole program (tra(5), WARNINGS) ----------------------- */

/* Inputs, definitions and sizes that nothing reads and no output names.
 * A definition that fails to build is broken, not unused. */
static void sema_warn_unused(Sema *s)
{
	for (int i = 0; i < s->nsyms; i++) {
		const Sym *sym = &s->syms[i];
		if (sym->used || sym->broken)
			continue;
		if (sym->kind == SYM_SIZE)
			diag_warning(s->diag, DIAG_W_UNUSED, sym->span, "size '%s' is never used", sym->name);
		else if (!s->g->nodes[sym->node].is_output)
			diag_warning(s->diag, DIAG_W_UNUSED, sym->span, "%s '%s' is never read and is not an output",
			             sym->is_input ? "input" : "tensor", sym->name);
	}
}

/* x / 0 with a literal zero: every element is inf or NaN. Size
 * expressions are checked exactly (a division by zero there is an
 * error), so this meets only definitions. A linear scan: the AST's depth
 * does not matter. */
static void sema_warn_division_by_zero(Sema *s)
{
	for (int r = 0; r < s->prog->nex; r++) {
		const AstExpr *e = &s->prog->ex[r];
		if (e->kind != AST_BINARY || e->op.op != TRA_OP_DIV)
			continue;
		const AstExpr *d = &s->prog->ex[e->op.b];
		if (d->kind == AST_NUM && d->num.value == 0)
			diag_warning(s->diag, DIAG_W_DIVISION_BY_ZERO, d->span,
			             "division by zero: every element of this quotient is infinite or NaN");
	}
}

static bool sema_has_output_stmt(const AstProgram *prog)
{
	for (int i = 0; i < prog->nst; i++) /* a feed's tensor is an output */
		if (prog->st[i].kind == AST_STMT_OUTPUT || prog->st[i].kind == AST_STMT_FEED)
			return true;
	return false;
}

int sema_build(const AstProgram *prog, SizeOverride *overrides, int noverrides,
               Diag *diag, TraGraph *g)
{
	Sema s = {.prog = prog, .src = diag->src, .diag = diag, .g = g, .arena = g->arena,
	          .ov = overrides, .nov = noverrides};
	int before = diag->nerrors;
	s.expr_var = arena_alloc(s.arena, (size_t)(prog->nex + 1) * sizeof *s.expr_var);
	s.free_vars = arena_alloc(s.arena, (size_t)(prog->nex + 1) * sizeof *s.free_vars);
	s.expr_access = arena_alloc(s.arena, (size_t)(prog->nex + 1) * sizeof *s.expr_access);
	s.conv_from = arena_alloc(s.arena, (size_t)(prog->nex + 1) * sizeof *s.conv_from);
	for (int i = 0; i < prog->nex; i++)
		s.expr_var[i] = s.expr_access[i] = -1;
	sema_index_names(&s);
	for (int i = 0; i < prog->nst; i++) {
		const AstStmt *st = &prog->st[i];
		switch (st->kind) {
		case AST_STMT_SIZE: sema_size(&s, st); break;
		case AST_STMT_INPUT: sema_input(&s, st); break;
		case AST_STMT_DEF: sema_def(&s, st); break;
		case AST_STMT_OUTPUT:
		case AST_STMT_FEED:
			break;
		}
	}
	sema_outputs(&s);
	sema_feeds(&s);
	uint32_t end = diag_text_end(diag->src);
	if (!sema_has_output_stmt(prog))
		diag_error(diag, span_make(end, end),
		           "the program has no output; add a statement such as 'output %s'",
		           g->nnodes ? g->nodes[g->nnodes - 1].name : "Y");
	if (diag->nerrors == before) {
		sema_warn_division_by_zero(&s);
		sema_warn_unused(&s);
	}
	return diag->nerrors - before;
}
