/* memgraph.h: memory planning in TURNIP's style (compiler/memgraph.c
 * states the algorithm): the placed task graph with memory made
 * explicit, per memory domain.
 *
 * The planned buffers are kplan's (KplanProgram.pooled: intermediate
 * tensors and split joins' partial blocks), and, under a budget, the
 * blocks of inputs and outputs (out of core: each holds room in the
 * arena while it is in memory, its bytes at its place in the tensor's
 * file). Each lives at offsets of its domain's arena; alloc, free,
 * offload, reload, read, drop, claim and write are nodes of the graph
 * (numbered after the compute tasks), and the only edges added to the
 * data flow are those that make reusing a region safe. Back ends render
 * the result as task-table rows (trart.h's TrartMemOp).
 */
#ifndef TRAC_MEMGRAPH_H
#define TRAC_MEMGRAPH_H

#include "kplan.h"

#include <stdio.h>

/* What a memory node does (trart.h's TrartMemKind, in the same order). */
typedef enum MgKind {
	MG_ALLOC,   /* a buffer's first residency, over regions others freed */
	MG_FREE,    /* after a buffer's last use: its region may be reused */
	MG_OFFLOAD, /* the buffer's bytes to the slower tier; its region is free */
	MG_RELOAD,  /* back from the slower tier, at a new offset */
	MG_READ,    /* an input block from its file, into memory (its room: over regions
	               others freed, as alloc) */
	MG_DROP,    /* an input block out of memory (its last use passed, or evicted:
	               a later use reads it again) */
	MG_CLAIM,   /* an output block's room, before its writer runs */
	MG_WRITE,   /* a finished output block to its file, and out of memory */
} MgKind;

/* What a planned buffer is. */
typedef enum MgIo {
	MG_ARENA,   /* an intermediate or a partial block: its bytes in the arena */
	MG_IN,      /* a block of an input: its bytes in the input's file */
	MG_OUT,     /* a final block of an output no task reads: its bytes in the output's file */
	MG_BLOCK,   /* a final block of an intermediate kept block by block: its bytes in the
	               arena, where the kernels that touch it see it through a view */
} MgIo;

/* Where a task's kernel finds the one block it touches of an
 * intermediate kept block by block (trart.h's TrartView). */
typedef struct MgView {
	int node;          /* the intermediate */
	int buf;           /* its block's buffer */
	int64_t begin;     /* the block's first byte in the tensor */
} MgView;

/* A memory node. */
typedef struct MgOp {
	MgKind kind;
	int buf;
	int64_t offset;    /* ALLOC, RELOAD, READ, CLAIM: where it goes (for READ and CLAIM,
	                      the room it holds); FREE, OFFLOAD, DROP, WRITE: where it was */
	int64_t bytes;
	int64_t spill;     /* OFFLOAD, RELOAD: its slot in the slower tier; READ, DROP,
	                      CLAIM, WRITE: the block's first byte in its tensor */
	int pos;           /* the linear order's step it belongs to (for dumps) */
} MgOp;

/* A planned buffer. */
typedef struct MgBuf {
	int64_t bytes;     /* 0: not planned (the caller's, or no such buffer) */
	int domain;
	int64_t offset;    /* its first residency's offset */
	int64_t spill;     /* its slot in the slower tier, or -1: never offloaded */
	int nuses;         /* tasks that use it */
	MgIo io;
	int64_t begin;     /* MG_IN, MG_OUT, MG_BLOCK: the first byte of the block's bytes in
	                      its tensor (bytes: from there to one past its last element's) */
} MgBuf;

/* A residency: a buffer at one offset, from its alloc or reload to its
 * free or offload, and the tasks that used it there (those that have
 * any; what tests check the plan's safety with). */
typedef struct MgRes {
	int buf;
	int64_t offset;
	int64_t room;      /* the bytes it holds there (its size, aligned) */
	int start;         /* the alloc or reload node that began it, or -1 */
	int nusers;
	int *users;        /* task ids */
} MgRes;

/* A memory domain: a byte budget over one arena, and a slower tier. */
typedef struct MgDomain {
	int64_t budget;    /* 0: unbounded */
	int64_t arena;     /* the arena's bytes: the most that is ever resident */
	int64_t spill;     /* bytes of the slower tier the offloads use */
	int64_t offloaded, reloaded; /* bytes moved out and back */
	int offloads, reloads;
	int64_t read, written; /* bytes of input blocks read, output blocks written */
	int reads, writes;
} MgDomain;

/* The memgraph of a placed task graph. Nodes 0 .. ntasks - 1 are the
 * compute tasks (kplan's, by id), ntasks .. ntasks + nops - 1 the memory
 * nodes (ops[node - ntasks]). */
typedef struct Memgraph {
	int ntasks;
	int nops;
	MgOp *ops;
	int nbufs;
	MgBuf *bufs;
	int ndomains;
	MgDomain *domains;
	bool gpus;         /* the domains are GPUs (ia->ngpus, one each), and GPU q's copy
	                      of kplan's buffer b is buffer q * kp->nbufs + b */
	int *order;        /* the compute tasks in the linear order simulated */
	MgRes *res;        /* every residency with users, in the order they ended */
	int nres;
	int *npred;        /* per node: its predecessors, all edges ... */
	int *nsucc;        /* ... and its successors, each once */
	int **succ;
	int nextra;        /* edges beyond the data flow */
	double *priority;  /* per node: a task's b-level (place.c); a memory node's, its
	                      most urgent successor's */
	int *device;       /* per node: where it runs (a memory node: with that successor) */
	int *nviews;       /* per task: its views (MG_BLOCK), or NULL: none anywhere */
	MgView **views;
} Memgraph;

/* The memory domain device d computes in: every CPU worker shares one,
 * each GPU (ia->ngpus > 0) is one, GPU d % ngpus. */
int memgraph_domain(const IaGraph *ia, int device);
/* Plans kp's block tasks under budget bytes per domain (0: unbounded).
 * Under a budget, inputs and outputs are planned out of core, block by
 * block: buffer KPLAN_PARTIAL(kp, t) is the block of input leaf t
 * (MG_IN), or output task t's final block (MG_OUT), since neither kind
 * of task has a partial block of its own. So is every intermediate
 * whose final blocks each lie in one stretch of its layout and whose
 * readers each read within one of them (MG_BLOCK, in final task t's
 * slot): it is never in memory whole. Unbounded, inputs and outputs
 * stay their callers' buffers and intermediates whole.
 * False when the budget is too small for some task's own buffers (or
 * leaves them no contiguous room): err then says which task, and the
 * smallest budget that works. mg's arrays are malloc'd (memgraph_free). */
bool memgraph_build(const KplanProgram *kp, int64_t budget, Memgraph *mg, char *err, size_t errlen);
void memgraph_free(Memgraph *mg);
/* Whether memgraph_build would plan kp under budget (without working out
 * the smallest budget when it would not). */
bool memgraph_fits(const KplanProgram *kp, int64_t budget);
/* The most bytes of buffers one task of kp uses at once under a budget
 * (its inputs' and outputs' blocks included): no budget below it works,
 * and a budget only a little above it leaves no room to read ahead. */
int64_t memgraph_largest_need(const KplanProgram *kp);
/* --emit=memgraph: per domain its arena, then each step of the linear
 * order with the memory nodes around it, then the edges it added. */
void memgraph_dump(const Memgraph *mg, const KplanProgram *kp, FILE *out);
/* The simulated run of the memgraph (sim.c's semantics: work-conserving,
 * the ready task of highest priority first on its device, transfers
 * between devices after their producer): compute tasks as sim.c times
 * them, offloads and reloads at m->spill_bw on the device they run on,
 * allocs and frees taking no time. Returns the makespan in seconds;
 * *io gets the seconds spent offloading and reloading. */
double memgraph_simulate(const Memgraph *mg, const IaGraph *ia, const SimModel *m, double *io);
/* --emit=plan's lines on memory: per domain its budget, arena, spill
 * file, bytes offloaded and reloaded, and the makespan under the budget. */
void memgraph_plan_lines(const Memgraph *mg, const IaGraph *ia, const SimModel *m, FILE *out);
/* --emit=plan-json's "memory" object: the same as one JSON object. */
void memgraph_plan_json(const Memgraph *mg, const IaGraph *ia, const SimModel *m, FILE *out);
/* What the generated program's tables say of buffer b: its bytes in the
 * arena (0: not in the arena: the caller's, or an input or output block,
 * whose bytes are its tensor's), and its first offset there. */
int64_t memgraph_arena_bytes(const Memgraph *mg, int b);
int64_t memgraph_arena_offset(const Memgraph *mg, int b);
/* The buffer a memory node's task-table row names: its own, or for an
 * input or output block its tensor's (the runtime finds the block's
 * bytes there, at op->spill). */
int memgraph_op_buffer(const Memgraph *mg, const KplanProgram *kp, const MgOp *op);
/* Whether a memory node of kind k moves bytes to or from a file (the
 * spill file, or an input's or output's): what takes time. */
bool memgraph_moves(MgKind k);
/* The memory node's name for dumps and traces ("alloc", "offload", ...). */
const char *memgraph_kind_name(MgKind k);

#endif /* TRAC_MEMGRAPH_H */
