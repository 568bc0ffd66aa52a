/* kplan.h: kernel plans, what every kernel of a generated program runs,
 * decided once for every back end (compiler/kplan.c states the rules).
 *
 * A back end renders a KplanProgram: codegen/c.c prints it as C, and the
 * LLVM and CUDA back ends build the same plans. A back end never
 * re-decides what a plan says (which nodes are BLAS calls, the loop
 * order, the vector loop, how a reduction is split, row groups and
 * their chunks); scalar code stays TraExpr trees, which each back end
 * renders its own way.
 */
#ifndef TRAC_KPLAN_H
#define TRAC_KPLAN_H

#include "tra.h"

/* The decisions' constants (kplan.c says why each is what it is). */
#define KPLAN_ROW_CHUNK_ELEMENTS 8192 /* join points per member of a row group's chunk */
#define KPLAN_SUM_BLOCK 256           /* terms per block of a long contiguous sum */
#define KPLAN_COLUMN_TILE 1024        /* output elements a column reduction keeps */
#define KPLAN_COLUMN_BLOCK 64         /* terms per block, and blocks per level, of a column sum */
#define KPLAN_PANEL 256               /* rows of a GEMM panel whose epilogue follows it */
#define KPLAN_COLUMN_MIN 16           /* the shortest last index a column reduction vectorises */
#define KPLAN_ROW_REDUCE_MAX 1024     /* rows per block a row group's row reducer sums in turn */
#define KPLAN_REDUCER_JAM 8           /* rows a row reducer adds into each element per pass */
#define KPLAN_ARG_LANES 16            /* lanes of an argmax or argmin on CPUs ... */
#define KPLAN_ARG_MIN_TERMS 64        /* ... with at least this many terms */
#define KPLAN_ARG_LONG_TERMS 1024     /* from this many terms, twice the lanes ... */
#define KPLAN_ARG_WIDE_TERMS 2048     /* ... and from this many, 4 times (4-byte types) */
#define KPLAN_INLINE_MEMBERS 16       /* the most members a row group inlines into its chunk loop */
#define KPLAN_TRANSPOSE_TILE 16       /* a transposing map's tiles: this many by this many */
#define KPLAN_FLAT_ROW 1024           /* a block map flattens rows shorter than this */
#define KPLAN_DEFER_FLOPS 4           /* an epilogue this costly (ops.def) is deferred over rows */

/* What a kernel is. */
typedef enum KplanKind {
	KPLAN_NOP,   /* an input leaf or a repartition: orders, moves nothing */
	KPLAN_BLAS,  /* cblas gemm or gemv calls (GemmPlan), then the epilogue pass if any */
	KPLAN_LOOPS, /* one node's loop nest (KplanNest) */
	KPLAN_ROWS,  /* a row group: chunk by chunk of rows, each member's nest in turn */
	KPLAN_AGG,   /* a block: combines the partial blocks of a split reduction, then the epilogue */
	KPLAN_SCATTER, /* a scatter-add (tra_node_is_scatter): zeros its output, then its nest
	                  adds the join at each point's position (kplan_scatter_nest) */
} KplanKind;

/* How a loop nest reduces. */
typedef enum KplanReduce {
	KPLAN_RED_NONE,    /* a map: one join point per output element */
	KPLAN_RED_SIMD,    /* reduced loops inside; the innermost a simd reduction into acc */
	KPLAN_RED_COLUMNS, /* a tile of column_tile partial results along the last output
	                      index, the reduced loops outside a vector loop over the tile */
	KPLAN_RED_ARG,     /* argmax, argmin: one reduced loop, scalar, keeping the best
	                      value and its first index */
} KplanReduce;

/* One node's loop nest: output indices outside (the first split across
 * threads, or given by a block's range), the join, aggregation and
 * epilogue fused. */
typedef struct KplanNest {
	int node;
	int norder;
	int order[TRA_MAX_STMT_INDICES]; /* every loop, outer to inner */
	int nred;
	int red[TRA_MAX_STMT_INDICES];   /* the reduced indices, outer to inner */
	int split;         /* the loop split across threads or cut by blocks: 0, or -1 (a scalar) */
	int vector;        /* the vector loop's index, or -1 (a scalar map) */
	KplanReduce reduce;
	bool blocked;      /* a long sum: SIMD sums blocks of sum_block terms into a pairwise
	                      sum; COLUMNS adds the tile into two levels of column_block blocks */
	int64_t sum_block, column_tile, column_block;
	int arg_lanes;     /* KPLAN_RED_ARG: lanes its loop runs in, lane l the best of the
	                      positions congruent to l, in order, the lanes then combined
	                      (kplan.c's arg reductions); 1: one scalar loop */
	int64_t tile;      /* a block map whose largest operand is strided along the vector
	                      loop and contiguous along tile_index, an outer output index:
	                      both loops run in tiles of tile x tile (kplan.c's
	                      transposes); 0: none */
	int tile_index;
	int flat;          /* a block map whose output and operands are laid out alike
	                      along its last flat + 1 indices, every one but the first
	                      uncut: those loops run as one loop over the last index,
	                      from lo * P to hi * P of the first (P: the others'
	                      sizes' product), the others at 0 (kplan.c's short rows);
	                      0: none */
	int prefetch;      /* a blocked sum in a row group: the operand whose next row each
	                      block prefetches (kplan.c's row groups), or -1 */
	int64_t prefetch_stride; /* its elements from one row to the next */
	bool deferred;     /* a rank-1 SIMD reduction's costly epilogue, run after the sums of
	                      a range of rows (a row function's, a block's) in one vector loop
	                      over them: each sum is stored to out, then read back
	                      (kplan.c's deferred epilogues) */
	TraAgg agg;        /* the combine op (NONE for a map) */
	double init;       /* the accumulator's initial value (the aggregation's identity) */
	bool nan_flag;     /* max, min: a NaN seen is kept in a flag beside the comparison */
	int join;          /* TraExpr ids: the join per join point ... */
	int epilogue;      /* ... and the epilogue per element, or -1 (acc itself) */
	int scatter_at[TRA_MAX_RANK]; /* KPLAN_SCATTER: per scattered output dimension, the
	                      loops of order open when its position is loaded and
	                      checked (its operand's last), so tok[t] is read once
	                      per t, not per (t, d); -1 for the other dimensions */
} KplanNest;

/* A kernel. */
typedef struct Kplan {
	KplanKind kind;
	int node;          /* its node; a row group's leader */
	bool block;        /* a block kernel: bounds are the task's lo and hi */
	bool split;        /* a block join whose reduced indices some task cuts: partial
	                      results to the pool, combined by the node's KPLAN_AGG */
	GemmPlan gemm;     /* KPLAN_BLAS */
	bool gemv;         /* KPLAN_BLAS: the calls are matrix-vector products */
	bool panels;       /* KPLAN_BLAS, whole node: panels of KPLAN_PANEL rows, each
	                      followed by its epilogue while in cache */
	KplanNest nest;    /* KPLAN_LOOPS, KPLAN_AGG (agg, init, epilogue) */
	int nmembers;      /* KPLAN_ROWS: its nodes, in order (each has a KPLAN_LOOPS plan) */
	int *members;
	int64_t chunk;     /* KPLAN_ROWS: rows per chunk */
	int reducer;       /* KPLAN_ROWS of blocks: the member that sums the rows into its
	                      partial block (kplan.c's row groups), or -1 */
	int jam;           /* KPLAN_ROWS with a reducer: the rows it adds into each element
	                      in one pass of its vector loop, in row order (a chunk's:
	                      chunk == jam); the rows left over, one a pass; else 1 */
	int row_rank;      /* KPLAN_ROWS: the leading indices a row is a point of (rows
	                      numbered in C order over them; 1: the first index's) */
	bool calls;        /* KPLAN_ROWS: its members' row functions are called, not
	                      inlined into the chunk loop (more than KPLAN_INLINE_MEMBERS) */
} Kplan;

/* A row of the task table a back end renders for block tasks (the
 * runtime's TrartTask): what runs, what it waits for and wakes, and the
 * buffers it touches. */
typedef struct KplanTask {
	int kernel;        /* the kernel it runs: NOP for leaves, repartitions and
	                      joins that their row group's task computes */
	int npred;         /* the tasks it waits for */
	int nsucc;         /* its readers, each once ... */
	int *succ;         /* ... in the order ia lists them */
	int nparts;        /* an aggregation: the partial joins it combines; a row group's
	                      task with a row reducer: the reducer's fused join, whose
	                      partial block it writes ... */
	int *parts;        /* ... their task ids */
	int nuse;          /* a join or aggregation: the buffers it uses, by node id, each
	                      once (its node's and its operands'; a row group's, all of
	                      its members') ... */
	int *use;          /* ... in that order */
} KplanTask;

/* What the plans may choose beyond what the graph says: the driver's
 * options. NULL (unit tests) is all false. */
typedef struct KplanOptions {
	bool strassen; /* GEMM kernels may call trart_?gemm's Strassen-Winograd
	                  levels (kplan_strassen): not with --no-strassen, nor
	                  under a --memory budget */
} KplanOptions;

/* The kernels of a program: whole-node kernels, or block kernels of a
 * placed task graph. */
typedef struct KplanProgram {
	const TraGraph *g;
	const IaGraph *ia;  /* the task graph for block kernels, or NULL */
	KplanOptions opt;
	Kplan *kernels;     /* in the order a back end emits them */
	int nkernels, capkernels;
	int *leader;        /* per node: the first node of its row group, or itself */
	int *group_end;     /* per leader: one past its group's last member (a group's
	                       members lie between the two: groups never interleave) */
	int *row_rank;      /* per leader: its group's Kplan.row_rank */
	int *row_dim;       /* per node: the index its group's rows run along, 0, or a row
	                       reducer's reduced index */
	int *node_plan;     /* per node: its own kernel (BLAS or LOOPS), or -1 */
	int *rows_plan;     /* per node: the KPLAN_ROWS kernel it leads, or -1 */
	int *agg_plan;      /* per node: its KPLAN_AGG kernel (blocks), or -1 */
	KplanTask *tasks;   /* blocks: one per task of ia, by task id */
	int nbufs;          /* blocks: the buffers tasks use: one per node, then one per
	                       task (a split join's partial block, KPLAN_PARTIAL) */
	int64_t *pooled;    /* blocks: per buffer, its bytes if the executor places it
	                       (intermediates, partial blocks; memgraph.c plans where), or
	                       0 (inputs and outputs: the caller's; tasks without a partial) */
} KplanProgram;

/* A block a task's kernel writes, as a message between ranks carries it
 * (trart.h's TrartPiece): a box of a buffer in C order. */
typedef struct KplanPiece {
	int buf;           /* a node's buffer, or a split join's partial block */
	int elsize;        /* bytes per element (1 for a partial block: its bytes) */
	int host;          /* KPLAN_PIECE_OUTPUT: a final block of an output (rank 0
	                      writes it; on GPUs it is copied to the host);
	                      KPLAN_PIECE_INPUT: on GPUs, an input's block, copied
	                      from the host; else 0 (trart.h's TRART_PIECE_*) */
	int ndim;          /* >= 1 (a scalar is one element of one dimension) */
	int64_t shape[TRA_MAX_RANK], start[TRA_MAX_RANK], size[TRA_MAX_RANK];
} KplanPiece;

enum { KPLAN_PIECE_OUTPUT = 1, KPLAN_PIECE_INPUT = 2 };

/* What task t's kernel writes: its partial block (a split join), or its
 * block of its node (a join, an aggregation) and, for a row group's
 * leader, the block of every member it computes; on GPUs, an input
 * leaf's block too (what the host sends the GPUs that read it). Pieces go
 * to out, with room for 1 + the task's readers; returns how many (0: a
 * task that only orders). */
int kplan_task_pieces(const KplanProgram *kp, int t, KplanPiece *out);

/* On GPUs (ia->ngpus > 0): per task with pieces, the GPUs they are
 * copied to (a bit each), as runtime/gpu.c works it out: a task that
 * only orders needs what its successors need; a writer's pieces go to
 * every other GPU that runs a task needing them; an input leaf's to
 * every GPU that does, its own included (they come from the host).
 * Malloc'd, ntasks entries. */
uint64_t *kplan_gpu_dest(const KplanProgram *kp);

/* The buffer of task t's partial block (a split join's). */
#define KPLAN_PARTIAL(kp, t) ((kp)->g->nnodes + (t))
/* The node whose data buffer b holds: b itself, or the node of the split
 * join whose partial block it is (KPLAN_PARTIAL's inverse). */
int kplan_buffer_node(const KplanProgram *kp, int b);
/* Whether node id's row function is called by its row group's chunk
 * loop, not inlined into it (Kplan.calls). */
bool kplan_member_called(const KplanProgram *kp, int id);
/* Buffer b's bytes: a pooled buffer's, else its node's whole tensor. */
int64_t kplan_buffer_bytes(const KplanProgram *kp, int b);

/* A flat nest's (KplanNest.flat) row: the product of the sizes of the
 * merged indices inside the first, so that its one loop runs over the
 * last index from lo * row to hi * row of the first. */
int64_t kplan_flat_row(const TraNode *n, const KplanNest *L);

/* Plans every kernel of g: whole-node kernels when ia is NULL, else the
 * block kernels of ia's tasks. kp's arrays are malloc'd (kplan_free). */
void kplan_build(const TraGraph *g, const IaGraph *ia, const KplanOptions *o, KplanProgram *kp);
void kplan_free(KplanProgram *kp);
/* Whole-node row groups alone (what reuse chains need before the graph
 * is partitioned): leader[v] is the first node of the loop kernels that
 * run row by row together with v (the same first index, each reading the
 * others only at it), or v. */
void kplan_row_groups(const TraGraph *g, int *leader);
/* ia_fuse_rows on ia, lowered from g, with the row groups kplan_build
 * plans for it (on CPUs, ia->ngpus 0, with row dots and a row reducer:
 * kplan.c says which), as the driver does before placement. */
void kplan_fuse_rows(const TraGraph *g, IaGraph *ia);
/* One node's loop nest, as a whole-node or block kernel plans it. */
void kplan_nest(const TraGraph *g, int id, KplanNest *nest);
/* A scatter-add's nest: its loops (tra_node_is_loop) with the reduced
 * ones outside, in index order, and the output ones inside, the last
 * innermost (contiguous in the output and, for a gradient, in operand
 * 0); reduce NONE, since points that meet at one position are added
 * one after the other. split is the outermost output loop, the one a
 * whole-node kernel splits across threads (no two threads then write
 * one element), or -1 (none: one thread); vector the innermost loop
 * when it is an output one (its iterations write distinct elements),
 * else -1; scatter_at where each position is loaded. */
void kplan_scatter_nest(const TraGraph *g, int id, KplanNest *nest);
const char *kplan_kind_name(KplanKind k);
const char *kplan_reduce_name(KplanReduce r);
/* --emit=kernels: one readable block per kernel. */
void kplan_dump(const KplanProgram *kp, FILE *out);

#endif /* TRAC_KPLAN_H */
