/* tra.h: the spine of trac. A reader learns the compiler from this file.
 *
 * A .tra program goes through these representations:
 *
 *   source text --lexer.l/parser.y--> AST (AstProgram)
 *               --sema.c-----------> TRA graph (TraGraph)
 *               --interp.c---------> values (the reference semantics)
 *
 * The AST is the program as written, with a byte range (Span) on every
 * node for diagnostics. The TRA graph is the program as tensor relational
 * algebra: a DAG of nodes, each an input or one extended einsum
 *
 *   out[I] = epilogue( AGG over R of join(in_1[I_1], ..., in_n[I_n]) )
 *
 * where I are the output indices, R the reduced ones, and join and
 * epilogue are scalar expressions (TraExpr trees). Sema splits nested and
 * partial reductions into nodes of their own, so every node has at most
 * one aggregation. Both IRs keep their objects in growable arrays and
 * refer to them by small integer handles.
 *
 * After the types, each file's exported functions are listed under its
 * name. Arenas (arena.h) own all compiler memory; diagnostics go through
 * diag.h; util.h has the exit codes.
 */
#ifndef TRAC_TRA_H
#define TRAC_TRA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "trart.h"
#include "util.h"

#define TRA_MAX_RANK TRART_MAX_RANK /* most dimensions of a tensor */
#define TRA_MAX_STMT_INDICES 64     /* most index bindings in one statement */
/* The deepest a TraExpr tree may be (tra_verify checks it). Sema's trees
 * are bounded by the parser's nesting limit (PARSE_MAX_NESTING, 2000),
 * fused ones by fuse.c's cost rule; every recursive walk over
 * expressions relies on it. */
#define TRA_MAX_EXPR_DEPTH 2100
/* Most expression nodes a node's join, or its epilogue, computes per
 * point once the passes are done, where its tensors allow: fusion stops
 * inlining there (fuse.c) and hoisting splits a larger statement into
 * nodes of about this size (hoist.c, rule (c)). Past it a node is bound
 * by arithmetic, so the store and load a split costs are under 1%, while
 * compilers' time grows faster than linearly in one loop body's size
 * (LLVM's vectoriser and scheduler: 1,990 nested exp took 17 s). */
#define TRA_NODE_MAX_OPS 512

/* ---- scalar operations (ops.def) ---------------------------------------- */

typedef enum TraOp {
#define OP(name, spelling, arity, flops) TRA_OP_##name,
#include "ops.def"
#undef OP
	TRA_OP_COUNT
} TraOp;

/* Aggregations. MEAN exists only in the AST: sema lowers it to SUM with an
 * epilogue that divides by the count. */
typedef enum TraAgg {
	TRA_AGG_NONE, /* no reduced indices: a map */
	TRA_AGG_SUM,  /* + */
	TRA_AGG_PROD, /* * */
	TRA_AGG_MAX,  /* max, exact */
	TRA_AGG_MIN,  /* min, exact */
	TRA_AGG_MEAN, /* AST only */
	TRA_AGG_ARGMAX, /* the first index of the largest (a NaN counts as largest), i64 */
	TRA_AGG_ARGMIN, /* the first index of the smallest (a NaN counts as smallest), i64 */
} TraAgg;

/* Whether agg gives an index (argmax, argmin): its node is i64, its join
 * in the type its body reads (TraNode.arg_type). */
#define TRA_AGG_IS_ARG(agg) ((agg) == TRA_AGG_ARGMAX || (agg) == TRA_AGG_ARGMIN)

/* ---- the AST ------------------------------------------------------------ */

typedef int AstRef; /* index of an AstExpr in AstProgram.ex; -1 for none */

typedef enum AstKind {
	AST_NUM,    /* a number literal */
	AST_INF,    /* the literal inf */
	AST_NAME,   /* a bare name: index, scalar tensor or size */
	AST_ACCESS, /* X[i, j]: a tensor element */
	AST_CALL,   /* f(a, b): exp log ... pow max min select */
	AST_UNARY,  /* -a */
	AST_BINARY, /* a + b, a < b, ... */
	AST_REDUCE, /* sum[k, l](body) and the other aggregations */
	AST_RANGED, /* i : N in brackets: an index with its range (ref, one arg) */
	AST_PAD,    /* pad = v in a tensor element's brackets (ref, one arg) */
} AstKind;

/* An expression. The payload is switched on kind. */
typedef struct AstExpr {
	AstKind kind;
	Span span; /* the whole expression */
	union {
		struct {          /* AST_NUM */
			double value;    /* as strtod reads it */
			bool integral;   /* spelled with digits only */
		} num;
		struct {          /* AST_NAME, AST_ACCESS, AST_CALL, AST_RANGED, AST_PAD */
			const char *name;
			Span name_span;  /* just the name */
			int nargs;       /* 0 for AST_NAME */
			AstRef *args;    /* subscripts or call arguments */
		} ref;
		struct {          /* AST_UNARY, AST_BINARY */
			TraOp op;
			AstRef a, b;     /* b is -1 for AST_UNARY */
		} op;
		struct {          /* AST_REDUCE */
			TraAgg agg;
			Span agg_span;   /* the keyword */
			int nidx;
			AstRef *idx;     /* the listed indices (AST_NAME if valid) */
			AstRef body;
		} red;
	};
} AstExpr;

typedef enum AstStmtKind {
	AST_STMT_SIZE,   /* size N = expr (one per name in a size list) */
	AST_STMT_INPUT,  /* input X[dims] type (one per declared tensor) */
	AST_STMT_OUTPUT, /* output X (one per listed name) */
	AST_STMT_DEF,    /* T[i, j] = expr, or s = expr */
	AST_STMT_FEED,   /* NEXT -> X: NEXT is input X at the next step */
} AstStmtKind;

/* A statement. Lists in the source (size A = 1, B = 2) become one
 * statement per item so that later passes see one name each. */
typedef struct AstStmt {
	AstStmtKind kind;
	Span span;          /* the whole item */
	const char *name;   /* the size, tensor or output named */
	Span name_span;
	int nidx;           /* INPUT: dimensions; DEF: left-hand indices */
	AstRef *idx;        /* INPUT: size expressions; DEF: as written */
	AstRef value;       /* SIZE: the size expression; DEF: right-hand side */
	TrartDtype type;    /* INPUT: element type */
	bool typed;         /* INPUT: the type was written */
	const char *to;     /* FEED: the input fed (name is the tensor feeding it) */
	Span to_span;
} AstStmt;

/* A parsed file. */
typedef struct AstProgram {
	AstExpr *ex;
	int nex, excap;
	AstStmt *st;
	int nst, stcap;
} AstProgram;

/* ---- the TRA graph ------------------------------------------------------ */

/* A node of a scalar expression tree; trees live in TraGraph.ex. */
typedef struct TraExpr {
	TraOp op;
	int arg;      /* OPERAND: operand number; INDEX: index number */
	double value; /* CONST */
	int kid[3];   /* sub-expressions by arity; unused ones -1 */
} TraExpr;

/* One index of a node's join space. */
typedef struct TraIndex {
	const char *name;  /* as written in the program */
	int64_t size;      /* its range is 0 .. size-1 */
	const char *sname; /* the size it came from ("N"), or NULL */
} TraIndex;

/* An affine read (tra(5), INDEX ARITHMETIC): dimension d of the producer
 * is read at off[d] + the sum over the reader's indices x of
 * coef[d * nidx + x] * x (nidx: the reader's). Outside [0, size) it
 * reads pad where padded; unpadded, sema has proved it never is. */
typedef struct TraAffine {
	int64_t *coef; /* producer rank x reader nidx, row-major */
	int64_t *off;  /* per producer dimension */
	int *gather;   /* per producer dimension: -1, or the operand (1, 2, ...: an
	                  integer tensor read plainly) whose value is the position
	                  there, a gather (coef row 0, off 0); NULL when none is */
	bool padded;   /* positions outside read pad; unpadded, a gather's
	                  outside one is a run-time error */
	double pad;
} TraAffine;

/* An operand: another node's tensor read at some of this node's indices. */
typedef struct TraOperand {
	int node;  /* the producer */
	int rank;  /* equals the producer's rank */
	int *idx;  /* idx[d]: this node's index for the producer's dimension d;
	              for an affine read, one index it reads there (the first
	              with a coefficient), or -1 for a constant subscript */
	const TraAffine *aff; /* NULL, or an affine read: only in views */
} TraOperand;

typedef enum TraNodeKind {
	TRA_NODE_INPUT,  /* a leaf, read from a file */
	TRA_NODE_EINSUM, /* an extended einsum over other nodes */
} TraNodeKind;

/* A tensor. For an einsum, indices 0 .. rank-1 are the output indices and
 * rank .. nidx-1 the reduced ones; together they span the join space. */
typedef struct TraNode {
	TraNodeKind kind;
	const char *name;  /* the program's name, or T.rN for a split-off reduction */
	Span span;         /* the definition in the source */
	TrartDtype type;
	int rank;          /* output dimensions */
	int nidx;          /* output plus reduced indices */
	TraIndex *idx;
	TraAgg agg;        /* NONE exactly when nidx == rank; never MEAN */
	int nops;
	TraOperand *ops;
	int join;          /* TraExpr over operands and indices, per join point */
	int epilogue;      /* TraExpr over ACC and output-indexed operands, per
	                      output element; -1 means the aggregate itself */
	bool is_output;    /* named by an output statement */
	bool pinned;       /* named by --partition: the passes keep it (tra_node_kept) */
	double flops;      /* floating-point operations to compute it */
	double bytes;      /* bytes read (operands) plus written (result) */
	int *part;         /* part[d]: blocks along index d, output and reduced
	                      (decomp.c); NULL until a partition is computed */
	TrartDtype arg_type; /* argmax, argmin: the type of the join (and of the
	                        operands); see tra_node_join_type */
	bool view;         /* a view (tra_node_is_view): made by sema */
	const char *note;  /* what a node of the backward pass computes (grad.c), for
	                      --emit=tra, or NULL */
	const int *scatter; /* a scatter-add (tra_node_is_scatter), or NULL: per output
	                       dimension, -1 (a loop index, as anywhere) or the operand
	                       k >= 1, an integer tensor read plainly, whose value is
	                       the position written there */
} TraNode;

/* A growable list of operands, for code that builds nodes. */
typedef struct TraOperandList {
	TraOperand *ops;
	int n, cap;
} TraOperandList;

/* A size of the program, with its final value (after -D overrides). */
typedef struct TraSize {
	const char *name;
	int64_t value;
	bool overridden; /* set by -D */
} TraSize;

/* A chain's row blocks cut at most this many leading dimensions of its
 * tensor (reuse.c: W3's scores, [b, h, s, t], are cut along b and h). */
#define TRA_REUSE_DIMS 3

/* A node's place in a reuse chain (reuse.c). */
typedef struct TraReuse {
	int chain;  /* 1 + the chain's number, or 0: in none */
	int ndims;  /* how many row indices */
	int row[TRA_REUSE_DIMS];    /* its row indices (into idx): what the row blocks cut */
	int blocks[TRA_REUSE_DIMS]; /* the blocks along each */
	int tensor; /* the node whose second read (or write and read) the chain saves */
} TraReuse;

/* The whole program. Nodes are in a topological order: operands first. */
typedef struct TraGraph {
	Arena *arena;     /* owns everything below */
	TraNode *nodes;
	int nnodes, nodecap;
	TraExpr *ex;
	int nex, excap;
	TraSize *sizes;
	int nsizes, sizecap;
	int *outputs;     /* node ids in the order the program lists them */
	int noutputs, outcap;
	/* Training state (NEXT -> X): output feeds[i].from is input feeds[i].to
	 * at the next step. By name: the passes renumber nodes, and an input's
	 * name and an output's are theirs alone (tra_feed_nodes finds them). */
	struct TraFeed {
		const char *from, *to;
	} *feeds;
	int nfeeds, feedcap;
	TraReuse *reuse;  /* per node, its reuse chain (reuse_find), or NULL: none */
} TraGraph;

/* A -D NAME=VALUE from the command line. */
typedef struct SizeOverride {
	const char *name;
	int64_t value;
	bool used; /* set by sema when the program defines the size */
} SizeOverride;

/* ---- lexer.l ------------------------------------------------------------ */

/* Writes one line per token ("3:5-3:7 identifier 'Xs'") to out. Returns
 * the number of lexical errors, reported through diag. */
int lex_dump_tokens(const Source *src, Diag *diag, FILE *out);

/* ---- parser.y ----------------------------------------------------------- */

/* Parses src into prog (allocated in arena). Syntax errors are reported
 * through diag and recovered from at the next statement; returns the
 * number of errors (lexical and syntactic). */
int parse_program(const Source *src, Arena *arena, Diag *diag, AstProgram *prog);

/* ---- ast.c -------------------------------------------------------------- */

AstRef ast_expr_new(AstProgram *p, Arena *a, AstKind kind, Span span);
AstStmt *ast_stmt_new(AstProgram *p, Arena *a, AstStmtKind kind, Span span);
const char *ast_agg_name(TraAgg agg);
void ast_dump(const AstProgram *p, const Source *src, FILE *out);

/* ---- sema.c ------------------------------------------------------------- */

/* Checks prog and builds its TRA graph into g (whose arena must be set).
 * overrides are the -D sizes; sema marks the ones the program defines.
 * Returns the number of errors reported through diag. */
int sema_build(const AstProgram *prog, SizeOverride *overrides, int noverrides,
               Diag *diag, TraGraph *g);

/* ---- grad.c ------------------------------------------------------------- */

/* The backward pass of one scalar node L (see grad.c). */
typedef struct GradPass GradPass;
#define GRAD_ONE (-2)  /* grad_adjoint of L itself: the constant 1, no node */
#define GRAD_NONE (-1) /* grad_adjoint of a node that L does not depend on */

/* Appends to g the nodes of dL/dT for every floating-point node T that
 * loss (a scalar) depends on; nodes 0 .. loss are the forward graph. */
GradPass *grad_pass(TraGraph *g, int loss);
/* The node holding dL/d(wrt), GRAD_ONE or GRAD_NONE; *why is why it
 * could not be built (then the result means nothing), or NULL. */
int grad_adjoint(const GradPass *p, int wrt, const char **why);

/* ---- tra.c -------------------------------------------------------------- */

extern const char *const tra_op_name[TRA_OP_COUNT];
extern const int tra_op_arity[TRA_OP_COUNT];
extern const int tra_op_flops[TRA_OP_COUNT];

int tra_node_new(TraGraph *g, const TraNode *proto);  /* appends a copy */
int tra_expr_new(TraGraph *g, TraOp op, int arg, double value, int a, int b, int c);
/* The operand of l reading node at idx (rank entries), added if new. */
int tra_operand_add(Arena *a, TraOperandList *l, int node, int rank, const int *idx);
int64_t tra_node_elements(const TraNode *n);          /* product of output sizes */
/* The C-order stride of dimension d of n's result, in elements. */
int64_t tra_node_stride(const TraNode *n, int d);
/* The stride of n's index x in operand k's producer, in elements: how
 * far one step of x moves in it (0 if operand k does not read x). */
int64_t tra_operand_stride(const TraGraph *g, const TraNode *n, int k, int x);
/* A view: a map whose join is its first operand, read affinely (sema
 * makes one of every tensor element with a subscript that is not a plain
 * index); a gather's views have more operands, the integer tensors their
 * positions come from. The passes leave views alone, and never inline
 * one into its readers or another node into one: their operands are not
 * plain. */
bool tra_node_is_view(const TraNode *n);
/* The type n's join and operands compute in: n's own, but argmax's and
 * argmin's (whose result is an i64 index) is their body's. */
TrartDtype tra_node_join_type(const TraNode *n);
/* For an integer input id: the fewest elements of a dimension that a
 * gather reads through it directly, or 0 (none does): --random keeps
 * its values below that. */
int64_t tra_gather_bound(const TraGraph *g, int id);
/* A scatter-add (grad.c makes one: the gradient of a gather's table):
 * n[pos] += join at every point of n's join space but its scattered
 * output indices, where pos is the point's output indices except in a
 * scattered dimension, whose position is the value of its index operand
 * (a position outside the dimension adds nothing). Its agg is SUM (even
 * with no reduced index), its join operand 0, read plainly, and it has
 * no epilogue; a scattered output index is never a loop, so the node
 * costs one add per point of the other indices (tra_node_join_points),
 * not a one-hot product over the table. The passes leave it alone,
 * decomp never cuts it (one task), and its kernel is KPLAN_SCATTER. */
bool tra_node_is_scatter(const TraNode *n);
/* Whether join-space index x of n is a loop: not a scattered one. */
bool tra_node_is_loop(const TraNode *n, int x);
/* Whether the passes leave n alone: a view, a scatter, an argmax or argmin. */
bool tra_node_is_opaque(const TraNode *n);
/* Whether the passes keep n a node of its own that its readers read: an
 * output, or a statement --partition names (pinned), which fusion does
 * not inline or absorb, CSE does not replace by its twin, and algebra
 * and views do not read through. Dead code may still remove it. */
bool tra_node_kept(const TraNode *n);
/* The range [*lo, *hi] of positions an affine operand op of a node with
 * nidx indices reads along its producer's dimension d, where index x
 * runs over [xlo[x], xhi[x]) (empty ranges not allowed). */
void tra_affine_span(const TraOperand *op, int nidx, int d, const int64_t *xlo, const int64_t *xhi,
                     int64_t *lo, int64_t *hi);
double tra_node_result_bytes(const TraNode *n);       /* bytes of its result */
/* Feed i's nodes: the output that feeds and the input it feeds. */
void tra_feed_nodes(const TraGraph *g, int i, int *from, int *to);
/* live[id]: an output depends on node id (live has g->nnodes entries).
 * One backward sweep: nodes are in a topological order. */
void tra_live_nodes(const TraGraph *g, bool *live);
double tra_node_join_points(const TraNode *n);        /* product of the loops' sizes */
void tra_node_cost(const TraGraph *g, TraNode *n);    /* fills flops and bytes */
bool tra_expr_uses(const TraGraph *g, int e, TraOp op);
/* Operations one evaluation of expression e costs (ops.def's flops:
 * 1 an arithmetic operation, 4 an exp, 24 an erf; 0 for none). */
double tra_expr_flops(const TraGraph *g, int e);
int tra_expr_size(const TraGraph *g, int e);          /* expression nodes in tree e (0 for none) */
/* Operand leaves of a tree of products (MUL, constants, operands); -1
 * if anything else occurs. */
int tra_expr_product_operands(const TraGraph *g, int e);
const char *tra_agg_name(TraAgg agg);
/* The aggregation's identity in type t, shared by the interpreter and the
 * kernel plans: an integer type's limits for max and min (-2^31, 2^31 - 1,
 * -2^63, and 2^63 standing for 2^63 - 1, which a double cannot hold). */
double tra_agg_identity(TraAgg agg, TrartDtype t);
void tra_dump(const TraGraph *g, FILE *out);
/* Expression e of node n as tra_dump writes it (operands by name). */
void tra_expr_dump(const TraGraph *g, const TraNode *n, int e, FILE *out);
/* Checks the graph's invariants; a violation is an internal error. */
void tra_verify(const TraGraph *g);
/* For the passes: bits 0 .. n-1 set (all 64 from n = 64 on). */
uint64_t tra_index_mask(int n);
/* The indices of node n that expression e reads, bit d for index d
 * (ACC reads every output index; index 64 and beyond alias bit d % 64,
 * so passes leave nodes with more than 64 indices alone). */
uint64_t tra_expr_indices(const TraGraph *g, const TraNode *n, int e);
/* A deep copy of expression e: no pass shares a subtree (fuse.c edits
 * trees in place). */
int tra_expr_copy(TraGraph *g, int e);
/* Rebuilds n's operand list from its expressions: operands numbered in
 * the order the join, then the epilogue, first read them, equal ones
 * (same producer and subscripts) merged, unread ones dropped. */
void tra_node_compact_operands(TraGraph *g, TraNode *n);

/* ---- interp.c ----------------------------------------------------------- */

/* Values of every node, in double precision, indexed like TraGraph.nodes;
 * each a C-order array of tra_node_elements() doubles. */
typedef struct InterpValues {
	int nnodes;
	double **data;
} InterpValues;

/* Evaluates every einsum node of g; the input nodes' values must be set
 * in v beforehand. */
void interp_run(const TraGraph *g, InterpValues *v);
void interp_values_init(InterpValues *v, const TraGraph *g);
void interp_values_free(InterpValues *v);
/* One operation on values, as the interpreter computes it (not SELECT
 * and the leaves; b is ignored by unary ones): algebra.c folds
 * constants with it, so folding cannot disagree with the oracle. */
double interp_apply(TraOp op, double a, double b);
/* The same for integer type t: + - * and unary - wrap (two's complement),
 * / is floor division (by zero 0), abs, sign, relu, max, min, the
 * comparisons. Values are integers held in doubles: exact below 2^53. */
double interp_apply_int(TraOp op, double a, double b, TrartDtype t);
/* Value v of type from converted to type to (tra(5), TYPES): to an
 * integer, a float truncates toward zero, NaN gives 0, and values beyond
 * the type saturate; an integer wraps; to a float, the nearest. */
double interp_convert(double v, TrartDtype from, TrartDtype to);
/* The value of one scalar expression at a join point (used by tests). */
double interp_eval(const TraGraph *g, const TraNode *n, int e,
                   const InterpValues *v, const int64_t *point, double acc);

/* ---- the TRA passes (driver.c runs them, in the order of driver_passes) --- */

/* form.c: expressions as canonical forms, for the passes that find equal
 * ones. A form under construction: */
typedef struct TraForm {
	Arena *arena;      /* where v grows */
	int64_t *v;        /* the forms written so far, back to back */
	int n, cap;
	int *canon;        /* canon[d]: the number of index d of the node written, or -1 */
	int next;          /* the number the next index met is given */
} TraForm;

/* Mixes v into the hash h (every hash of the passes is built of these). */
uint64_t form_mix(uint64_t h, uint64_t v);
void form_push(TraForm *f, int64_t v);
/* Index d's number, the next one if d has none yet. */
int64_t form_index(TraForm *f, int d);
/* The hash of the tree at e of node n with every index by its size alone
 * and the operands of + and * combined in an order-free way; stores it,
 * and every sub-tree's, in free[] by expression id. */
uint64_t form_free_hash(const TraGraph *g, const TraNode *n, int e, uint64_t *free);
/* Appends the tree at e of node n to f in prefix order; the operands of
 * + and * as they stand when free is NULL, else in the order of their
 * free[] hashes (form_free_hash). */
void form_write(TraForm *f, const TraGraph *g, const TraNode *n, int e, const uint64_t *free);
/* The hash of f's entries from start to its end. */
uint64_t form_hash(const TraForm *f, int start);

/* algebra.c: folds constants, applies the identities that are exact (or
 * differ only in the sign of a zero), divides by powers of two as
 * products, and moves the factors of a sum that read no reduced index
 * into its epilogue. */
void algebra_normalise(TraGraph *g);
/* cse.c: redirects the readers of every einsum that computes what an
 * earlier one does (equal up to index names, operand numbering and the
 * order of the operands of + and *) to the earlier one; an einsum whose
 * aggregate another computes, or whose join a costly stored map
 * computes, reads that instead. */
void cse_merge(TraGraph *g);
/* hoist.c: makes a node of every sub-expression of a join or epilogue
 * that depends on a strict subset of its node's indices, where that pays
 * (the cost rule is in hoist.c). */
void hoist_invariants(TraGraph *g);
/* subexpr.c: makes a node of every costly sub-expression that two or
 * more nodes compute over the same points (equal up to index names and
 * the operand order of + and *), where that pays (the cost rule is in
 * subexpr.c); they read it instead. */
void subexpr_share(TraGraph *g);
/* views.c: a loop kernel that reads a view (one that neither converts
 * nor gathers, and is no output) reads the viewed tensor through the
 * view's affine map instead, in place; a GEMM reads its views as copies
 * (the im2col of a convolution). Dead views are left for dce_remove. */
void views_fold(TraGraph *g);
/* dce.c: drops the einsums no output depends on. */
void dce_remove(TraGraph *g);
/* share.c: binds every sub-expression that a join or epilogue computes
 * twice or more per point once, as a LET at the expression's root that
 * its VARs read (the last pass: no other pass sees LETs). */
void share_values(TraGraph *g);

/* ---- order.c ------------------------------------------------------------ */

/* Splits every sum of a product of three or more operands into pairwise
 * contractions (new nodes T.c1, T.c2, ... just before T), in the order
 * with the fewest flops as opt_einsum's flop_count counts them: an
 * optimal search (dynamic programming over subsets) up to 16 operands,
 * greedy then improved locally beyond. An operand may first be summed
 * over the indices only it reads (a one-operand SUM node), and pairs may
 * be outer products (maps), where that is cheaper; a sum of two operands
 * or a map of three or more is split only where that costs less. */
void order_contractions(TraGraph *g);

/* ---- fuse.c ------------------------------------------------------------- */

/* Inlines every map that one node reads, once, at every index of the
 * reading expression, into that node (never into a GEMM's join); the
 * inlined maps are left dead for dce_remove. */
void fuse_elementwise(TraGraph *g);

/* ---- decomp.c ----------------------------------------------------------- */

/* Block b of an index of size S split n ways covers [b*S/n, (b+1)*S/n):
 * sizes differ by at most one, the larger blocks last. */
int64_t decomp_block_lo(int64_t size, int n, int b);
/* The most blocks --partition may ask for along one index, and for one
 * node in all (each block is a task: more would only take time). */
#define DECOMP_MAX_COUNT 4096
#define DECOMP_MAX_BLOCKS 16384

/* What the decomposition is asked for. */
typedef struct DecompOptions {
	int devices;   /* n: candidates have n, 2n or 4n join blocks */
	bool none;     /* --partition=none: one block per node (unless fixed) */
	int **fixed;   /* fixed[id]: a manual partition of node id, or NULL;
	                  NULL itself when there are none */
	bool greedy;   /* use the greedy search whatever the graph's size */
	bool stretches; /* cut each result along its first index alone (of size
	                  over 1; reduced indices freely), so that every block
	                  is one stretch of its layout: what a memory budget
	                  keeps block by block (memgraph.c, MG_BLOCK) */
	bool ranks;     /* the devices are on MPI ranks (trac --ranks): reading an
	                  input costs nothing (every rank reads its file), and a
	                  split reduction's partials count twice (decomp.c) */
} DecompOptions;

/* Partitions every einsum node (sets TraNode.part; inputs keep NULL: they
 * are read in whatever blocks their readers want). Returns the total cost
 * in elements (decomp_graph_cost). */
double decomp_run(TraGraph *g, const DecompOptions *opt);
/* The candidate partitions of node id for n devices: *out gets ncand
 * vectors of nidx counts each, in g's arena; returns ncand. */
int decomp_candidates(const TraGraph *g, int id, int devices, int **out);
/* The same, with DecompOptions.stretches's constraint when stretches. */
int decomp_candidates_in(const TraGraph *g, int id, int devices, bool stretches, int **out);
/* Elements node id moves under partition part: its inputs' replication
 * plus the partial results a split reduction leaves to aggregate. */
double decomp_node_cost(const TraGraph *g, int id, const int *part);
/* The same, for devices on MPI ranks (DecompOptions.ranks) when ranks. */
double decomp_node_cost_in(const TraGraph *g, int id, const int *part, bool ranks);
/* Elements moved to give node c's operand k the blocks that c's partition
 * cpart wants, out of the blocks the producer's partition ppart made. */
double decomp_edge_cost(const TraGraph *g, int c, int k, const int *ppart, const int *cpart);
/* The sum of node and edge costs under the nodes' current partitions. */
double decomp_graph_cost(const TraGraph *g);
/* Pins the einsum a manual partition "NODE:i=4,k=2" names, if g has it
 * (TraNode.pinned): run before the passes, so that the statement the
 * user partitions is still a node when decomp_parse_manual looks. */
void decomp_pin_manual(TraGraph *g, const char *spec);
/* Parses a manual partition "NODE:i=4,k=2" against g: sets *node and
 * part[0..nidx) (unnamed indices 1). Returns false with a message in err. */
bool decomp_parse_manual(const TraGraph *g, const char *spec, int *node, int *part,
                         char *err, size_t errlen);

/* ---- gemm.c -------------------------------------------------------------- */

/* A group of a node's indices that one BLAS dimension stands for. */
typedef struct GemmGroup {
	int n;
	int x[TRA_MAX_STMT_INDICES]; /* outermost first */
} GemmGroup;

/* How one operand (or the result) is seen as a row-major matrix. */
typedef struct GemmMatrix {
	int64_t stride[TRA_MAX_STMT_INDICES]; /* per node index, in elements; 0 if absent */
	bool scratch;  /* permuted into this layout in a scratch copy first */
	bool trans;    /* stored transposed */
	int64_t ld;    /* leading dimension */
} GemmMatrix;

/* How BLAS computes a contraction: C[batch, m, n] = sum over kloop and k
 * of A[batch, m, k] * B[batch, k, n], one call per batch and kloop
 * element (see gemm.c for the rule that chose it). */
typedef struct GemmPlan {
	int a, b;        /* the operand numbers of A and B */
	GemmGroup batch; /* output indices looped around the calls: in both
	                    operands, or outer indices of a split M or N */
	GemmGroup m, nn, k; /* the calls' dimensions (N is nn) */
	GemmGroup kloop; /* outer indices of a split K: looped, the calls after
	                    the first accumulating (beta 1) */
	GemmMatrix A, B, C;
	double scale;    /* constant factors of the product in the join */
	double alpha;    /* BLAS's alpha: scale, times an epilogue that only scales */
	bool epilogue;   /* an epilogue pass is still needed */
	double cost;     /* the rule's estimate, in seconds of one core */
	bool strassen;   /* the gemm calls are trart_?gemm's, not cblas_?gemm's:
	                    Strassen-Winograd where a call is large (kplan.c
	                    decides, after gemm_plan) */
} GemmPlan;

/* What the plan is for. */
typedef enum GemmMode {
	GEMM_NODE,   /* a whole-node kernel: copies allowed */
	GEMM_BLOCKS, /* block tasks under the node's partition: no copies */
} GemmMode;

/* The cheapest plan for node n, or false when BLAS cannot compute it
 * (not a contraction; for blocks, also no layout without a copy). */
bool gemm_plan(const TraGraph *g, const TraNode *n, GemmMode mode, GemmPlan *p);
/* Whether the plan's calls are matrix-vector products (M or N is 1). */
bool gemm_is_gemv(const TraNode *n, const GemmPlan *p);
int64_t gemm_group_size(const TraNode *n, const GemmGroup *g);
/* The elements of group g one call sees: its size, or in block mode its
 * size in the partition's larger blocks. */
double gemm_group_extent(const TraNode *n, GemmMode mode, const GemmGroup *g);
/* How many indices inside the plan's M, N and K runs (all but each run's
 * outer index) partition part cuts: each breaks the run in a block, so
 * that block tasks loop around smaller calls. */
int gemm_runs_cut(const GemmPlan *p, const int *part);
/* How many indices of the plan's M, N and K groups partition part cuts:
 * each makes every call of a block smaller, where a cut batch index
 * leaves the calls whole and makes fewer of them. */
int gemm_dims_cut(const GemmPlan *p, const int *part);

/* ---- ia.c ---------------------------------------------------------------- */

/* What a task of the implementation algebra does. */
typedef enum IaKind {
	IA_INPUT,  /* a leaf: one block of an input tensor, as some reader wants it */
	IA_JOIN,   /* a local join: the einsum over one block of its join space */
	IA_AGG,    /* aggregates the partial results of one output block, then
	              applies the epilogue (in place: one task, all partials) */
	IA_REPART, /* cuts a sub-block out of, or gathers a block from, the
	              blocks a producer made, for a reader that wants other blocks */
	IA_FUSED,  /* a join block that its row group's leading task computes
	              (ia_fuse_rows): it only orders, after that task */
} IaKind;

/* One block operation. Tasks are numbered in a topological order. */
typedef struct IaTask {
	IaKind kind;
	int node;          /* the TRA node whose block it makes */
	int ndim;          /* entries of lo and hi: the node's rank, or its
	                      nidx for a join (the reduced ranges follow) */
	int64_t *lo, *hi;  /* the block: [lo[d], hi[d]) per dimension */
	int *in;           /* the tasks whose blocks it reads */
	int nin;
	double flops;      /* floating-point operations */
	double bytes;      /* bytes read plus written */
	double out_bytes;  /* bytes of the block it makes */
	bool final;        /* one of the blocks that tile an einsum's result */
	bool gemm;         /* computed by BLAS calls (gemm_plan, GEMM_BLOCKS) */
	int rows;          /* a join that computes the same rows of every node
	                      of the row group led by this node (ia_fuse_rows),
	                      or -1 */
	int device;        /* where it runs (place.c); -1 before placement */
	double priority;   /* b-level: longest path to the end, in seconds (place.c);
	                      the learned placer's selection order instead */
	double measured;   /* seconds it took in a run of the compiled program
	                      (learn_read_trace), which sim_task_time then
	                      uses; 0: the model's */
} IaTask;

/* The task graph of a partitioned TRA graph. */
typedef struct IaGraph {
	const TraGraph *g; /* the graph it lowers (with its partitions) */
	Arena *arena;      /* owns everything below */
	IaTask *tasks;
	int ntasks, cap;
	int *ncons;        /* ncons[t]: readers of task t ... */
	int **cons;        /* ... and their ids (ia_lower fills both) */
	int ndevices;      /* devices it is placed on (place.c) */
	int nranks;        /* > 1: those devices are on this many MPI ranks (trac
	                      --ranks), rank_devices each, device d on rank
	                      d / rank_devices; else 1 and 0 */
	int rank_devices;
	int ngpus;         /* > 0: every device is a GPU (trac --gpus), a memory
	                      of its own: blocks move between them, and inputs'
	                      and outputs' blocks from and to the host, as
	                      pieces (kplan_task_pieces); else 0 */
} IaGraph;

/* Lowers every node of g (which decomp_run has partitioned) into ia,
 * allocated in arena. */
void ia_lower(const TraGraph *g, Arena *arena, IaGraph *ia);

/* Row fusion of block tasks: leader[v] is the first node of v's row
 * group (nodes that run row by row together, kplan_row_groups), or v,
 * and row_dim[v] the index of v the group's rows run along (0, or a row
 * reducer's reduced index). Where every node of a group is cut into the
 * same row blocks along it and nothing else, the leader's join of each
 * row block computes that block of every member (rows = leader), and
 * the members' joins become IA_FUSED tasks after it. */
void ia_fuse_rows(IaGraph *ia, const int *leader, const int *row_dim, const int *row_rank);
/* row_rank[lead] > 1 (else 1): the group's rows are the points
 * of its first row_rank indices, flattened in C order, and its nodes are
 * cut alike along those and along nothing else; ia_task_rows gives the
 * rows [first, end) of the box lo, hi of node n where they are one
 * range (false where not), ia_row_stride the rows one step of index d
 * moves. */
bool ia_task_rows(const TraNode *n, int rank, const int64_t *lo, const int64_t *hi, int64_t *first, int64_t *end);
int64_t ia_row_stride(const TraNode *n, int rank, int d);
/* Whether einsum n is cut along index dim into blocks blocks and along
 * no other index (reduced ones included). */
bool ia_rows_only(const TraNode *n, int dim, int blocks);
/* The tasks in an order where each follows the tasks it reads (Kahn's).
 * Ids are one only until ia_fuse_rows: a row group's fused tasks, and the
 * leaves its leader reads, come after the leader. Malloc'd. */
int *ia_topo_order(const IaGraph *ia);
const char *ia_kind_name(IaKind k);
/* --emit=ia: the tasks grouped by TRA node, readably. */
void ia_dump(const IaGraph *ia, FILE *out);
/* --emit=taskgraph: one line per task, a stable format (see ia.c). */
void ia_dump_taskgraph(const IaGraph *ia, FILE *out);

/* ---- sim.c --------------------------------------------------------------- */

/* The simulator's device model: every device alike (one CPU worker). */
typedef struct SimModel {
	double gemm_flops;   /* FLOP/s of GEMM-shaped blocks (IaTask.gemm) */
	double elt_flops;    /* FLOP/s of every other block operation */
	double mem_bw;       /* bytes/s a task reads and writes on its device */
	double link_bw;      /* bytes/s of a transfer between two devices */
	double latency;      /* seconds before a transfer's first byte */
	double spill_bw;     /* bytes/s of an offload or reload to the slower tier */
	int rank_devices;    /* > 0: devices per MPI rank (trac --ranks), device d on
	                        rank d / rank_devices; 0: one process */
	double rank_bw;      /* bytes/s of a message between two ranks ... */
	double rank_latency; /* ... and seconds before its first byte */
} SimModel;

/* What a simulated run gives. */
typedef struct SimResult {
	int ndevices;
	double makespan;     /* seconds from the first start to the last end */
	double *busy;        /* busy[d]: seconds device d computed */
	double *peak_mem;    /* peak_mem[d]: most bytes resident on device d */
	double bytes_moved;  /* bytes transferred between devices */
	int transfers;       /* how many transfers */
} SimResult;

/* The defaults: one CPU core per device (see sim.c). */
void sim_model_default(SimModel *m);
/* Applies "KEY=VALUE,..." (keys gemm-flops, elt-flops, bandwidth,
 * link-bandwidth, latency); false with a message in err. */
bool sim_model_set(SimModel *m, const char *spec, char *err, size_t errlen);
/* Seconds task t computes on a device (FLOPs at its rate plus bytes at
 * memory bandwidth, or its measured time where it has one); seconds to move a block of bytes between devices. */
double sim_task_time(const IaTask *t, const SimModel *m);
double sim_transfer_time(double bytes, const SimModel *m);
/* Seconds to move a block of bytes from device `from` to device `to`:
 * nothing on one device, a message between ranks (rank_latency,
 * rank_bw), else sim_transfer_time. */
double sim_link_time(double bytes, int from, int to, const SimModel *m);
/* The rank of device d (0 without ranks). */
int sim_rank(const SimModel *m, int d);
/* Runs the placed task graph under work-conserving semantics: a task
 * starts once its inputs have arrived and its device is free, the ready
 * task of highest priority first. r's arrays are in ia's arena. */
void sim_run(const IaGraph *ia, const SimModel *m, SimResult *r);
/* sim_run's makespan alone (for placers and training that compare plans). */
double sim_makespan(const IaGraph *ia, const SimModel *m);

/* ---- place.c ------------------------------------------------------------- */

/* The placers (--placer=NAME). */
typedef enum PlaceKind {
	PLACE_ROUNDROBIN,    /* a node's k-th task on device k mod n */
	PLACE_GREEDY,        /* the device minimising the heaviest device's load */
	PLACE_LSHS,          /* NumS's local search over memory, bytes in, bytes out */
	PLACE_CRITICAL_PATH, /* longest path first, on the earliest-starting device */
	PLACE_SEARCH,        /* random local search from critical path's plan */
	PLACE_LEARNED,       /* Doppler's two policies (learn.c), trained weights */
} PlaceKind;

struct LearnNet; /* learn.c */

/* How to place: --placer and what some placers need. */
typedef struct Placer {
	PlaceKind kind;
	const struct LearnNet *net; /* PLACE_LEARNED's weights */
	long search_calls;          /* PLACE_SEARCH's simulator calls (--search-calls) */
	uint64_t seed;              /* PLACE_SEARCH's moves */
} Placer;
#define PLACE_SEARCH_CALLS 2000 /* --search-calls' default */

/* The placer named name; false if there is none. */
bool place_parse(const char *name, PlaceKind *k);
const char *place_name(PlaceKind k);
/* Sets every task's priority (its b-level under m). */
void place_priorities(IaGraph *ia, const SimModel *m);
/* Sets priorities, then every task's device, for ndevices devices. */
void place_run(IaGraph *ia, const Placer *p, int ndevices, const SimModel *m);
/* When task t could start on device d: d free (free_at[d]), and each
 * input, placed and ending at end[u], moved there. */
double place_earliest(const IaGraph *ia, int t, int d, const double *end, const double *free_at,
                      const SimModel *m);
/* Random local search: from critical path's plan, `calls` times moves
 * one random task to a random other device and keeps the move when the
 * simulated makespan does not grow. seed fixes the moves. */
void place_search(IaGraph *ia, const SimModel *m, long calls, uint64_t seed);

/* ---- reuse.c ------------------------------------------------------------- */

/* The sizes reuse chains are found by (--reuse=MIN,BLOCK); zero
 * fields: the defaults (32 MiB and 2 MiB). */
typedef struct ReuseSizes {
	int64_t min_bytes;   /* the least tensor a chain is found for */
	int64_t block_bytes; /* the bytes of the tensor's row blocks aimed at */
} ReuseSizes;

/* Finds g's reuse chains for devices (reuse.c's opening comment says
 * what they are): sets g->reuse, or leaves it NULL when there are none,
 * and returns how many. fixed is DecompOptions's (a member that --partition
 * fixes keeps its chain out), or NULL; sizes may be NULL (the defaults). */
int reuse_find(TraGraph *g, int devices, int *const *fixed, const ReuseSizes *sizes);
/* A chain member's partition, as --partition=NODE:ROW=BLOCKS gives it:
 * part[row] = blocks, 1 along every other index; in g's arena. */
int *reuse_partition(TraGraph *g, int id);
/* After placement: each row block of a chain on the device of its first
 * member's task, and the chains' priorities depth first. */
void reuse_place(IaGraph *ia);

/* ---- learn.c, learn_weights.c, learn_train.c, learn_trace.c ------------- */

/* The learned placer's networks (learn.c's opening comment). */
#define LEARN_HIDDEN 16          /* width of every hidden layer */
#define LEARN_ROUNDS 2           /* rounds of message passing */
#define LEARN_TASK_FEATURES 5    /* per task: compute, b-level, t-level, bytes in, out */
#define LEARN_DEVICE_FEATURES 5  /* per device, for the task being placed */

/* The weights of both policies: learn_nweights doubles, laid out as
 * learn_tensors say. */
typedef struct LearnNet {
	double *w;
} LearnNet;

/* One weight tensor: rows x cols doubles at w[offset], row-major. */
typedef struct LearnTensor {
	const char *name; /* its name in a weights file */
	int rows, cols;
	int offset;
} LearnTensor;
extern const LearnTensor learn_tensors[];
extern const int learn_ntensors, learn_nweights;

/* How an episode picks its actions. */
typedef enum LearnAct {
	LEARN_GREEDY,  /* each policy's most likely action (ties: the first) */
	LEARN_SAMPLE,  /* drawn from the policies' distributions */
	LEARN_TEACHER, /* the critical-path placer's (imitation) */
} LearnAct;

/* splitmix64: the next number of the stream s; a uniform in [0, 1). */
uint64_t learn_rng_next(uint64_t *s);
double learn_rng_uniform(uint64_t *s);
/* Fresh weights drawn from seed; learn_net_free frees them. */
void learn_net_init(LearnNet *net, uint64_t seed);
void learn_net_free(LearnNet *net);
/* One episode over ia's tasks (ia->ndevices devices): sets every task's
 * device and priority (SEL's order) and returns the sum of the log-
 * probabilities of the actions taken. With grad (learn_nweights
 * entries), adds that sum's gradient to it. rng: LEARN_SAMPLE's stream. */
double learn_episode(const LearnNet *net, IaGraph *ia, const SimModel *m, LearnAct act, uint64_t *rng,
                     double *grad);
/* --placer=learned: the greedy episode. */
void learn_place(IaGraph *ia, const LearnNet *net, const SimModel *m);

/* Reads a weights file into net; false with "FILE:LINE: message" in err. */
bool learn_load(LearnNet *net, const char *path, char *err, size_t errlen);
/* Writes net to path (a temporary renamed over it); false with a message. */
bool learn_save(const LearnNet *net, const char *path, char *err, size_t errlen);
/* The default weights file: the installed one, or this build tree's. */
const char *learn_default_weights(void);

/* A graph to train on, placed and simulated under m. */
typedef struct LearnGraph {
	IaGraph *ia;
	const char *name;  /* for the log: "FILE on N devices" */
	double reference;  /* critical path's simulated makespan */
} LearnGraph;

/* The stages of training and their episodes (trac --train). */
typedef struct LearnTrainOptions {
	long imitate;      /* stage 1: episodes imitating critical path */
	long reinforce;    /* stage 2 (and 3, on measured times): REINFORCE episodes */
	double imitate_rate, reinforce_rate; /* Adam's step sizes */
	uint64_t seed;
	FILE *log;         /* progress, or NULL */
} LearnTrainOptions;

/* What training did. */
typedef struct LearnTrainStats {
	long sim_calls;     /* simulated runs: rewards and evaluations */
	double start, end;  /* mean makespan / reference over the graphs,
	                       greedy, before and after */
} LearnTrainStats;

/* Sets every graph's reference (critical path's makespan). */
void learn_references(LearnGraph *graphs, int n, const SimModel *m);
/* Trains net on the graphs: imitation, then REINFORCE against the
 * simulator's makespan, keeping the weights that did best greedily. */
void learn_train(LearnNet *net, LearnGraph *graphs, int n, const SimModel *m, const LearnTrainOptions *o,
                 LearnTrainStats *stats);
/* The mean over the graphs of the greedy plan's makespan / reference. */
double learn_evaluate(const LearnNet *net, LearnGraph *graphs, int n, const SimModel *m);

/* Sets ia's tasks' measured times from a Chrome trace that the compiled
 * program wrote (--trace): the median of each task's runs; false with a
 * message when the trace is of another task graph or unreadable. */
bool learn_read_trace(IaGraph *ia, const char *path, char *err, size_t errlen);

/* ---- plan.c -------------------------------------------------------------- */

/* --emit=plan: per TRA node its partition, tasks, FLOPs and bytes moved;
 * for the program the simulated makespan, utilisation and peak memory. */
void plan_dump(const IaGraph *ia, const SimModel *m, PlaceKind placer, FILE *out);
/* --emit=plan on ranks (trac --ranks): per rank its compute and the
 * bytes it sends and receives (the pieces the runtime moves: sched.c's
 * rule), and the lower bound on the bytes a rank receives for the
 * program's largest contraction. */
void plan_dump_ranks(const TraGraph *g, const IaGraph *ia, const SimModel *m, FILE *out);
/* --emit=dot: the TRA graph as Graphviz, annotated with partitions. */
void plan_dump_dot(const TraGraph *g, const IaGraph *ia, FILE *out);
struct Memgraph; /* memgraph.h */
/* --emit=plan-json: what --emit=plan shows, as one JSON object for tools;
 * with mg, its memory plan too (memgraph_plan_json). */
void plan_dump_json(const IaGraph *ia, const SimModel *m, PlaceKind placer, const struct Memgraph *mg,
                    FILE *out);
/* --emit=signature-json: the program's interface (name, sizes, inputs
 * and outputs with their element types and shapes) as JSON. */
void plan_dump_signature_json(const TraGraph *g, const char *name, FILE *out);

/* ---- kplan.c ------------------------------------------------------------ */

/* Kernel plans (what every kernel runs: BLAS calls or loop nests, row
 * groups, aggregations), decided once for every back end: declared in
 * compiler/kplan.h, which the back ends and the driver include. */

/* ---- codegen/c.c -------------------------------------------------------- */

/* What the C back end is asked for. */
typedef struct CgCOptions {
	const char *name;   /* the program's name: symbols and messages */
	const char *source; /* the .tra file, for the header comment */
	bool library;       /* a function NAME() instead of main() */
	const char *header; /* library mode: the header's file name */
	const struct IaGraph *ia; /* a placed task graph to run as block tasks, or NULL */
	const struct Memgraph *mg; /* with ia: its memory plan (memgraph.h) */
	const struct CgCCuda *cuda; /* on CUDA GPUs (--backend=cuda): main() runs the
	                            CUDA file's launchers; NULL: not */
	const struct KplanOptions *plans; /* what the kernel plans may choose
	                            (kplan.h), or NULL: the defaults */
} CgCOptions;

/* A program on CUDA GPUs: what main() passes the runtime. */
typedef struct CgCCuda {
	bool tf32;          /* --tf32 */
} CgCCuda;

/* Writes the program as C: kernels, tables, and main() or NAME(). */
void cg_c_emit(const TraGraph *g, const CgCOptions *opt, FILE *out);
/* Library mode's header: NAME(), its tensors' descriptions. */
void cg_c_emit_header(const TraGraph *g, const CgCOptions *opt, FILE *out);
/* Why name cannot be library mode's function (a C keyword, a name of the
 * C library or of the generated code), or NULL when it can. */
const char *cg_c_name_problem(const char *name);

/* ---- codegen/cuda.c ------------------------------------------------------ */

/* --emit=cuda: the block kernels of opt->ia's tasks as CUDA C, a
 * launcher per kernel and a table of them per task (codegen/cuda.c). */
void cg_cuda_emit(const TraGraph *g, const CgCOptions *opt, FILE *out);

/* ---- codegen/llvm.c ------------------------------------------------------ */

/* The LLVM back end's foundation (a host target machine, IR-building
 * helpers for kernels, O3, object files) is declared in codegen/llvm.h,
 * its program builder's parts in codegen/llvm_prog.h: they exist only
 * where configure found LLVM (HAVE_LLVM), and their handles are LLVM's.
 * The module trac-llvm.so exports what is below (defined only with
 * HAVE_LLVM); trac calls it through build_llvm_emit (build.c). */

/* What cg_llvm_emit writes: each may be NULL. */
typedef struct CgLlvmOutput {
	const char *object; /* the object file (after O3) */
	FILE *unopt;        /* the module's IR as built, verified, before any pass */
	FILE *opt;          /* its IR after O3 */
	FILE *warnings;     /* LLVM's warnings after O3 (a loop tagged for vectorisation
	                       that stayed scalar), one line each, or NULL: dropped */
	bool tsan;          /* instrument for ThreadSanitizer after O3, as clang
	                       -fsanitize=thread does (opt and object show it) */
} CgLlvmOutput;

/* The program as an LLVM module (the same kernels, tables and main() or
 * NAME() as cg_c_emit's C), verified, then written as out asks. false
 * with a message in err when LLVM fails (verification, its passes, the
 * object): that is a bug in trac. */
bool cg_llvm_emit(const TraGraph *g, const CgCOptions *opt, const CgLlvmOutput *out, char *err,
                  size_t errlen);

/* ---- build.c ------------------------------------------------------------ */

/* cg_llvm_emit as trac calls it: from the LLVM back end's module
 * (trac-llvm.so), loaded on the first call. Returns TRAC_EXIT_OK, or
 * TRAC_EXIT_ERROR when the module cannot be loaded, or
 * TRAC_EXIT_INTERNAL when LLVM fails (a bug in trac), after a message. */
int build_llvm_emit(const TraGraph *g, const CgCOptions *opt, const CgLlvmOutput *out);

/* How to build the native program. */
typedef struct BuildOptions {
	const struct IaGraph *ia; /* run as block tasks (see CgCOptions) */
	const struct Memgraph *mg; /* ia's memory plan */
	const char *name;        /* C name of the program (library mode's function) */
	const char *source;      /* the .tra file */
	const char *out;         /* the executable, object file (-c) or shared library */
	bool object;             /* -c: an object file and a header, no main() */
	bool shared;             /* --shared: a shared library and a header */
	const char *header_name; /* -c, --shared: the header's name as the .c includes it */
	const char *header_out;  /* -c, --shared: where the header goes; NULL: no header */
	const char *cc;          /* --cc, or NULL for $CC or configure's */
	const char *const *xcc;  /* -Xcc and --cflags: extra flags for the C compiler */
	int nxcc;
	const char *march;       /* --march=CPU, or NULL */
	const char *runtime_dir; /* --runtime-dir, or NULL (TRAC_RUNTIME_DIR, or found) */
	int opt_level;           /* -O0 .. -O3 */
	bool portable;           /* --portable: no -march=native */
	bool keep_temps;         /* --keep-temps */
	bool sanitize_thread;    /* --sanitize=thread: compile (C) or instrument (LLVM)
	                            and link with ThreadSanitizer */
	bool verbose;            /* -v: print the commands */
	bool llvm;               /* --backend=llvm: the object from cg_llvm_emit, the C
	                            compiler only links (HAVE_LLVM only) */
	int ranks;               /* > 1: a program for MPI ranks (trac --ranks): links
	                            libtrart_mpi and MPI (TRAC_HAVE_MPI only) */
	bool cuda;               /* --backend=cuda: nvcc compiles the kernels (cg_cuda_emit),
	                            the link adds libtrart_cuda, cuBLAS and cudart
	                            (TRAC_HAVE_CUDA only) */
	bool tf32;               /* --tf32: cuBLAS may compute f32 GEMMs in TF32 */
	const struct KplanOptions *plans; /* CgCOptions.plans */
	const char *cuda_arch;   /* nvcc's architectures, comma-separated (sm_90) */
} BuildOptions;

/* Generates C and compiles it, or the object through LLVM, and links
 * it; returns an exit status. */
int build_program(const TraGraph *g, const BuildOptions *opt);
/* --print-runtime-dir: prints the runtime's header and library
 * directories, one a line; returns an exit status. */
int build_print_runtime_dir(const char *runtime_dir);
/* The runtime's header and library directories (strings in a); false
 * after a message when --runtime-dir or TRAC_RUNTIME_DIR names none. */
bool build_find_runtime(Arena *a, const char *runtime_dir, const char **include, const char **lib);
/* The path of one of trac's data files (the placer's weights): this build
 * tree's data/ when trac runs from it, else the install's pkgdatadir,
 * found from trac's own directory as the runtime is. A static buffer. */
const char *build_data_file(const char *name);

/* ---- driver.c ----------------------------------------------------------- */

/* The whole of `trac`: parses argv (options.c, declared in options.h
 * with DriverOpts), runs the pipeline, returns the exit status. main.c
 * is a call to this. */
int driver_main(int argc, char **argv);

/* A TRA pass: its name for --after, what it does, what it promises. */
typedef struct DriverPass {
	const char *name;
	void (*run)(TraGraph *g);
	const char *contract; /* what holds after it */
} DriverPass;

/* The passes, in the order trac runs them (tra_verify after each). */
extern const DriverPass driver_passes[];
extern const int driver_npasses;

/* The points of the pipeline, in order: what an --emit stage needs. */
typedef enum DriverPoint {
	POINT_SOURCE, /* the program's text */
	POINT_AST,    /* its syntax tree */
	POINT_PASSES, /* the checked TRA graph after the passes */
	POINT_PARTS,  /* the same, partitioned if --devices or --partition asks */
	POINT_TASKS,  /* the graph partitioned, lowered to block tasks, placed */
	POINT_CODE,   /* what is compiled: the tasks, or whole-node kernels (--node-kernels) */
} DriverPoint;

/* What a stage's dump reads (driver.c's state of one run). */
typedef struct DriverRun DriverRun;

/* An --emit stage: a row of the table that --emit, its errors, --help
 * and the dispatch read (and tests/options.sh compares with trac(1)). */
typedef struct DriverStage {
	const char *name;  /* --emit=NAME */
	const char *ext;   /* its file under -o DIR: DIR/PROGRAM.ext */
	DriverPoint needs; /* where in the pipeline it is dumped */
	bool after;        /* --after=PASS dumps it right after PASS instead */
	const char *what;  /* a line for --help */
	/* Writes the stage to out; false when the program has errors. */
	bool (*dump)(const DriverRun *r, FILE *out);
	bool blocks;       /* of block tasks only: --node-kernels is refused with it */
} DriverStage;

/* The stages, in pipeline order (DriverOpts.emits has a bit for each). */
#define DRIVER_MAX_STAGES 32
extern const DriverStage driver_stages[];
extern const int driver_nstages;

#endif /* TRAC_TRA_H */
