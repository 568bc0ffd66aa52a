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
} TraAgg;

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
		struct {          /* AST_NAME, AST_ACCESS, AST_CALL */
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

/* An operand: another node's tensor read at some of this node's indices. */
typedef struct TraOperand {
	int node;  /* the producer */
	int rank;  /* equals the producer's rank */
	int *idx;  /* idx[d]: this node's index for the producer's dimension d */
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
	double flops;      /* floating-point operations to compute it */
	double bytes;      /* bytes read (operands) plus written (result) */
} TraNode;

/* A size of the program, with its final value (after -D overrides). */
typedef struct TraSize {
	const char *name;
	int64_t value;
	bool overridden; /* set by -D */
} TraSize;

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

/* ---- tra.c -------------------------------------------------------------- */

extern const char *const tra_op_name[TRA_OP_COUNT];
extern const int tra_op_arity[TRA_OP_COUNT];
extern const int tra_op_flops[TRA_OP_COUNT];

int tra_node_new(TraGraph *g, const TraNode *proto);  /* appends a copy */
int tra_expr_new(TraGraph *g, TraOp op, int arg, double value, int a, int b, int c);
int64_t tra_node_elements(const TraNode *n);          /* product of output sizes */
double tra_node_join_points(const TraNode *n);        /* product of all sizes */
void tra_node_cost(const TraGraph *g, TraNode *n);    /* fills flops and bytes */
bool tra_expr_uses(const TraGraph *g, int e, TraOp op);
const char *tra_agg_name(TraAgg agg);
void tra_dump(const TraGraph *g, FILE *out);
/* Checks the graph's invariants; a violation is an internal error. */
void tra_verify(const TraGraph *g);

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
/* The value of one scalar expression at a join point (used by tests). */
double interp_eval(const TraGraph *g, const TraNode *n, int e,
                   const InterpValues *v, const int64_t *point, double acc);

/* ---- order.c ------------------------------------------------------------ */

/* Splits every sum of a product of three or more operands into pairwise
 * contractions (new nodes T.c1, T.c2, ... just before T), in the order
 * with the fewest flops: exhaustive up to 8 operands, greedy beyond. */
void order_contractions(TraGraph *g);

/* ---- fuse.c ------------------------------------------------------------- */

/* Inlines every map that one node reads, once, at every index of the
 * reading expression, into that node (never into a GEMM's join); then
 * drops the einsums no output depends on. */
void fuse_elementwise(TraGraph *g);

/* ---- codegen/c.c -------------------------------------------------------- */

/* What the C back end is asked for. */
typedef struct CgCOptions {
	const char *name;   /* the program's name: symbols and messages */
	const char *source; /* the .tra file, for the header comment */
	bool library;       /* a function NAME() instead of main() */
	const char *header; /* library mode: the header's file name */
} CgCOptions;

/* Writes the program as C: kernels, tables, and main() or NAME(). */
void cg_c_emit(const TraGraph *g, const CgCOptions *opt, FILE *out);
/* Library mode's header: NAME(), its tensors' descriptions. */
void cg_c_emit_header(const TraGraph *g, const CgCOptions *opt, FILE *out);

/* ---- build.c ------------------------------------------------------------ */

/* How to build the native program. */
typedef struct BuildOptions {
	const char *name;        /* C name of the program (library mode's function) */
	const char *source;      /* the .tra file */
	const char *out;         /* the executable, or the object file with -c */
	bool object;             /* -c: an object file and a header, no main() */
	const char *header_name; /* -c: the header's name as the .c includes it */
	const char *header_out;  /* -c: where the header goes */
	const char *cc;          /* --cc, or NULL for $CC or configure's */
	int opt_level;           /* -O0 .. -O3 */
	bool portable;           /* --portable: no -march=native */
	bool keep_temps;         /* --keep-temps */
	bool verbose;            /* -v: print the commands */
} BuildOptions;

/* Generates C, compiles and links it; returns an exit status. */
int build_program(const TraGraph *g, const BuildOptions *opt);

/* ---- driver.c ----------------------------------------------------------- */

/* The whole of `trac`: parses argv, runs the pipeline, returns the exit
 * status. main.c is a call to this. */
int driver_main(int argc, char **argv);

#endif /* TRAC_TRA_H */
