/* needs: a TraGraph with a partition per einsum (decomp.c). gives: the task graph of block operations (IaGraph). */
/* ia.c: lowering the partitioned TRA graph to the implementation algebra.
 *
 * An einsum node with partition d becomes:
 *   - one local join per block of its join space (prod(d) tasks, in
 *     row-major order of the block coordinates), each reading one block of
 *     every operand it needs: the operand's dimensions restricted to the
 *     ranges of the indices it is read at;
 *   - when a reduced index is split, one aggregation per output block,
 *     reading every partial join of that block. The aggregation is in
 *     place, one task per output block: it accumulates the partials (in
 *     any order: they are order-free touches, as TURNIP's partialize) and
 *     then applies the epilogue, so it also reads the blocks of operands
 *     that the epilogue uses. A join that leaves partials skips the
 *     epilogue and reads only the operands of the join;
 *   - its final blocks (the joins, or the aggregations when the reduction
 *     is split) tile its result exactly once.
 *
 * A reader that wants a block the producer made uses that task directly.
 * Any other block it wants becomes a repartition task (once per distinct
 * block, shared by every reader that wants it) that reads the producer's
 * final blocks overlapping it and cuts or gathers it. Input nodes have no
 * tasks of their own: a leaf task reads each distinct block any reader
 * wants.
 *
 * Costs. A join's FLOPs are its node's in proportion to its join points;
 * an aggregation's are one operation per partial element (the epilogue,
 * a few per output element, is left out). Bytes are read plus written: blocks in, block out; a
 * repartition reads and writes its block, a leaf writes its block.
 *
 * The text formats (--emit=ia and --emit=taskgraph) are described above
 * their printers at the end of the file.
 */
#include "tra.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Task ids grown in the arena. */
typedef struct IaList {
	int *v;     /* the ids */
	int n, cap; /* used, allocated */
} IaList;

/* The lowering's state. */
typedef struct IaLower {
	IaGraph *ia;       /* what is being built */
	const TraGraph *g; /* the partitioned graph */
	IaList *made;   /* made[id]: the final blocks of node id */
	IaList *asked;  /* asked[id]: its leaves or repartitions, by block */
} IaLower;

const char *ia_kind_name(IaKind k)
{
	static const char *const names[] = {"input", "join", "agg", "repart", "fused"};
	return names[k];
}

static void ia_list_push(Arena *a, IaList *l, int t)
{
	ARENA_RESERVE(a, l->v, l->n, l->cap);
	l->v[l->n++] = t;
}

/* A new task making a block of node; lo and hi (ndim entries) are copied. */
static int ia_task_new(IaLower *s, IaKind kind, int node, int ndim, const int64_t *lo, const int64_t *hi)
{
	IaGraph *ia = s->ia;
	ARENA_RESERVE(ia->arena, ia->tasks, ia->ntasks, ia->cap);
	IaTask *t = &ia->tasks[ia->ntasks];
	*t = (IaTask){.kind = kind, .node = node, .ndim = ndim, .device = -1, .rows = -1};
	t->lo = arena_alloc(ia->arena, (size_t)(ndim + 1) * sizeof *t->lo);
	t->hi = arena_alloc(ia->arena, (size_t)(ndim + 1) * sizeof *t->hi);
	memcpy(t->lo, lo, (size_t)ndim * sizeof *lo);
	memcpy(t->hi, hi, (size_t)ndim * sizeof *hi);
	const TraNode *n = &s->g->nodes[node];
	double elems = 1;
	for (int d = 0; d < n->rank; d++)
		elems *= (double)(hi[d] - lo[d]);
	t->out_bytes = elems * (double)trart_dtype_size(n->type);
	return ia->ntasks++;
}

/* Adds task u to t's inputs, once; returns whether it was new. */
static bool ia_add_input(IaGraph *ia, int t, int u)
{
	IaTask *x = &ia->tasks[t];
	for (int i = 0; i < x->nin; i++)
		if (x->in[i] == u)
			return false;
	x->in = arena_grow(ia->arena, x->in, (size_t)x->nin * sizeof *x->in,
	                   (size_t)(x->nin + 1) * sizeof *x->in);
	x->in[x->nin++] = u;
	return true;
}

/* Adds task u to t's inputs, once, and its block to t's bytes. */
static void ia_read(IaLower *s, int t, int u)
{
	if (ia_add_input(s->ia, t, u))
		s->ia->tasks[t].bytes += s->ia->tasks[u].out_bytes;
}

static bool ia_same_block(const IaTask *t, int rank, const int64_t *lo, const int64_t *hi)
{
	for (int d = 0; d < rank; d++)
		if (t->lo[d] != lo[d] || t->hi[d] != hi[d])
			return false;
	return true;
}

static bool ia_overlaps(const IaTask *t, int rank, const int64_t *lo, const int64_t *hi)
{
	for (int d = 0; d < rank; d++)
		if (t->hi[d] <= lo[d] || hi[d] <= t->lo[d])
			return false;
	return true;
}

/* The task in l making block [lo, hi) of a rank-dimensional node, or -1. */
static int ia_find(const IaLower *s, const IaList *l, int rank, const int64_t *lo, const int64_t *hi)
{
	for (int i = 0; i < l->n; i++)
		if (ia_same_block(&s->ia->tasks[l->v[i]], rank, lo, hi))
			return l->v[i];
	return -1;
}

/* The task giving block [lo, hi) of node p: one of its final blocks, or
 * a leaf or repartition made (once) for it. */
static int ia_block(IaLower *s, int p, const int64_t *lo, const int64_t *hi)
{
	const TraNode *n = &s->g->nodes[p];
	int t = ia_find(s, &s->made[p], n->rank, lo, hi);
	if (t < 0)
		t = ia_find(s, &s->asked[p], n->rank, lo, hi);
	if (t >= 0)
		return t;
	bool input = n->kind == TRA_NODE_INPUT;
	t = ia_task_new(s, input ? IA_INPUT : IA_REPART, p, n->rank, lo, hi);
	ia_list_push(s->ia->arena, &s->asked[p], t);
	s->ia->tasks[t].bytes = s->ia->tasks[t].out_bytes;
	for (int i = 0; !input && i < s->made[p].n; i++)
		if (ia_overlaps(&s->ia->tasks[s->made[p].v[i]], n->rank, lo, hi))
			ia_read(s, t, s->made[p].v[i]);
	return t;
}

/* Whether expression e reads operand k. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static bool ia_expr_reads(const TraGraph *g, int e, int k)
{
	if (e < 0)
		return false;
	const TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_OPERAND && x->arg == k)
		return true;
	for (int j = 0; j < tra_op_arity[x->op]; j++)
		if (ia_expr_reads(g, x->kid[j], k))
			return true;
	return false;
}

/* The task giving the block of operand k of node v within the join
 * ranges lo, hi (over v's indices). */
static int ia_operand(IaLower *s, int v, int k, const int64_t *lo, const int64_t *hi)
{
	const TraNode *n = &s->g->nodes[v];
	const TraOperand *op = &n->ops[k];
	int64_t plo[TRA_MAX_RANK + 1], phi[TRA_MAX_RANK + 1];
	for (int d = 0; d < op->rank; d++) {
		if (!op->aff) {
			plo[d] = lo[op->idx[d]];
			phi[d] = hi[op->idx[d]];
			continue;
		}
		/* an affine read: the box around what it reads, its halo
		 * included, within the tensor (a padded read may leave it) */
		int64_t size = s->g->nodes[op->node].idx[d].size;
		if (op->aff->gather && op->aff->gather[d] >= 0) { /* a gather reads any row */
			plo[d] = 0;
			phi[d] = size;
			continue;
		}
		tra_affine_span(op, n->nidx, d, lo, hi, &plo[d], &phi[d]);
		/* a padded read loads at its position clamped into the tensor
		 * (and selects the padding value there), so even a block that is
		 * all padding reads an edge element: the box clamped likewise */
		plo[d] = plo[d] < 0 ? 0 : plo[d] >= size ? size - 1 : plo[d];
		phi[d] = phi[d] < 0 ? 1 : phi[d] >= size ? size : phi[d] + 1;
	}
	return ia_block(s, op->node, plo, phi);
}

/* The operands of v that expression e reads (all when e < -1), as tasks
 * for the block at lo, hi, made before the task that reads them so that
 * ids stay topological; returns how many. */
static int ia_operands(IaLower *s, int v, int e, const int64_t *lo, const int64_t *hi, int *ins)
{
	const TraNode *n = &s->g->nodes[v];
	int m = 0;
	for (int k = 0; k < n->nops; k++)
		if ((e < -1 || ia_expr_reads(s->g, e, k)) && (ins[m] = ia_operand(s, v, k, lo, hi)) >= 0)
			m++;
	return m;
}

/* The ranges of join block number b (row-major over the counts part). */
static double ia_join_ranges(const TraNode *n, int64_t b, int64_t *lo, int64_t *hi)
{
	double points = 1;
	for (int d = n->nidx - 1; d >= 0; d--) {
		int c = (int)(b % n->part[d]);
		b /= n->part[d];
		lo[d] = decomp_block_lo(n->idx[d].size, n->part[d], c);
		hi[d] = decomp_block_lo(n->idx[d].size, n->part[d], c + 1);
		points *= (double)(hi[d] - lo[d]);
	}
	return points;
}

/* The aggregation of the partial joins parts[0 .. nparts). */
static void ia_aggregate(IaLower *s, int v, const int *parts, int nparts)
{
	const TraNode *n = &s->g->nodes[v];
	int *ins = arena_alloc(s->ia->arena, (size_t)(n->nops + 1) * sizeof *ins);
	const int64_t *lo = s->ia->tasks[parts[0]].lo, *hi = s->ia->tasks[parts[0]].hi;
	int m = n->epilogue >= 0 ? ia_operands(s, v, n->epilogue, lo, hi, ins) : 0;
	int a = ia_task_new(s, IA_AGG, v, n->rank, lo, hi);
	IaTask *t = &s->ia->tasks[a];
	t->final = true;
	t->bytes = t->out_bytes;
	double elems = t->out_bytes / (double)trart_dtype_size(n->type);
	t->flops = elems * nparts;
	for (int i = 0; i < nparts; i++)
		ia_read(s, a, parts[i]);
	for (int i = 0; i < m; i++)
		ia_read(s, a, ins[i]);
	ia_list_push(s->ia->arena, &s->made[v], a);
}

/* One join over the block of the join space at ranges lo, hi. */
static int ia_join(IaLower *s, int v, bool split, bool gemm, const int64_t *lo, const int64_t *hi,
                   double points)
{
	const TraNode *n = &s->g->nodes[v];
	int *ins = arena_alloc(s->ia->arena, (size_t)(n->nops + 1) * sizeof *ins);
	int m = ia_operands(s, v, split ? n->join : -2, lo, hi, ins);
	int t = ia_task_new(s, IA_JOIN, v, n->nidx, lo, hi);
	IaTask *x = &s->ia->tasks[t];
	x->flops = n->flops * points / tra_node_join_points(n);
	x->bytes = x->out_bytes;
	x->gemm = gemm;
	x->final = !split;
	for (int i = 0; i < m; i++)
		ia_read(s, t, ins[i]);
	return t;
}

/* The tasks of einsum v: joins, then aggregations if partials are left.
 * Reduced indices come last, so join b belongs to output block b / per. */
static void ia_lower_node(IaLower *s, int v)
{
	const TraNode *n = &s->g->nodes[v];
	int64_t nblocks = 1, nout = 1;
	for (int d = 0; d < n->nidx; d++) {
		nblocks *= n->part[d];
		nout *= d < n->rank ? n->part[d] : 1;
	}
	bool split = nblocks > nout;
	/* GEMM-shaped: the back end's block kernels are BLAS calls (gemm.c) */
	GemmPlan plan;
	bool gemm = gemm_plan(s->g, n, GEMM_BLOCKS, &plan);
	int64_t *lo = arena_alloc(s->ia->arena, (size_t)(n->nidx + 1) * sizeof *lo);
	int64_t *hi = arena_alloc(s->ia->arena, (size_t)(n->nidx + 1) * sizeof *hi);
	int *joins = arena_alloc(s->ia->arena, (size_t)nblocks * sizeof *joins);
	for (int64_t b = 0; b < nblocks; b++) {
		double points = ia_join_ranges(n, b, lo, hi);
		joins[b] = ia_join(s, v, split, gemm, lo, hi, points);
		if (!split)
			ia_list_push(s->ia->arena, &s->made[v], joins[b]);
	}
	int per = (int)(nblocks / nout);
	for (int64_t o = 0; split && o < nout; o++)
		ia_aggregate(s, v, joins + o * per, per);
}

/* Readers of every task (the inverse of the in lists). */
static void ia_consumers(IaGraph *ia)
{
	ia->ncons = arena_alloc(ia->arena, (size_t)(ia->ntasks + 1) * sizeof *ia->ncons);
	ia->cons = arena_alloc(ia->arena, (size_t)(ia->ntasks + 1) * sizeof *ia->cons);
	for (int t = 0; t < ia->ntasks; t++)
		for (int i = 0; i < ia->tasks[t].nin; i++)
			ia->ncons[ia->tasks[t].in[i]]++;
	for (int t = 0; t < ia->ntasks; t++) {
		ia->cons[t] = arena_alloc(ia->arena, (size_t)(ia->ncons[t] + 1) * sizeof **ia->cons);
		ia->ncons[t] = 0;
	}
	for (int t = 0; t < ia->ntasks; t++)
		for (int i = 0; i < ia->tasks[t].nin; i++) {
			int u = ia->tasks[t].in[i];
			ia->cons[u][ia->ncons[u]++] = t;
		}
}

void ia_lower(const TraGraph *g, Arena *arena, IaGraph *ia)
{
	*ia = (IaGraph){.g = g, .arena = arena};
	IaLower s = {.ia = ia, .g = g};
	s.made = arena_alloc(arena, (size_t)(g->nnodes + 1) * sizeof *s.made);
	s.asked = arena_alloc(arena, (size_t)(g->nnodes + 1) * sizeof *s.asked);
	for (int v = 0; v < g->nnodes; v++)
		if (g->nodes[v].kind == TRA_NODE_EINSUM) {
			TRAC_ASSERT(g->nodes[v].part != NULL);
			ia_lower_node(&s, v);
		}
	ia_consumers(ia);
}

/* ---- row fusion ------------------------------------------------------------------------ */

bool ia_rows_only(const TraNode *n, int dim, int blocks)
{
	if (n->kind != TRA_NODE_EINSUM || !n->part || dim >= n->nidx || n->part[dim] != blocks)
		return false;
	for (int d = 0; d < n->nidx; d++)
		if (d != dim && n->part[d] != 1)
			return false;
	return true;
}

/* Whether einsum n is cut as lead is along its first rank indices and
 * along no other index. */
static bool ia_rows_prefix(const TraNode *n, const TraNode *lead, int rank)
{
	if (n->kind != TRA_NODE_EINSUM || !n->part || n->rank < rank)
		return false;
	for (int d = 0; d < n->nidx; d++)
		if (n->part[d] != (d < rank ? lead->part[d] : 1))
			return false;
	return true;
}

bool ia_task_rows(const TraNode *n, int rank, const int64_t *lo, const int64_t *hi, int64_t *first, int64_t *end)
{
	int64_t at = 0, count = 1;
	bool whole = true; /* every index after the one at hand spans its size */
	for (int d = rank - 1; d >= 0; d--) {
		if (!whole && hi[d] - lo[d] > 1)
			return false; /* more than one value of d, over part of what follows it */
		at += lo[d] * ia_row_stride(n, rank, d);
		count *= hi[d] - lo[d];
		whole = whole && lo[d] == 0 && hi[d] == n->idx[d].size;
	}
	*first = at;
	*end = at + count;
	return true;
}

int64_t ia_row_stride(const TraNode *n, int rank, int d)
{
	int64_t s = 1;
	for (int e = d + 1; e < rank; e++)
		s *= n->idx[e].size;
	return s;
}

/* Which leaders lead a fusable group: every node of the group cut in
 * the leader's row blocks only (along its row index, or its first
 * row_rank[lead] indices), every leader join's rows one range, and more
 * than one node. fus[v] is true for such a leader v; one pass over the
 * nodes and one over the tasks. */
static bool *ia_fusable_groups(const IaGraph *ia, const int *leader, const int *row_dim, const int *row_rank)
{
	const TraGraph *g = ia->g;
	bool *fus = xcalloc((size_t)g->nnodes + 1, sizeof *fus);
	int *members = xcalloc((size_t)g->nnodes + 1, sizeof *members);
	for (int v = 0; v < g->nnodes; v++)
		fus[v] = leader[v] == v && g->nodes[v].kind == TRA_NODE_EINSUM && g->nodes[v].part;
	for (int v = 0; v < g->nnodes; v++) {
		int lead = leader[v], rank = row_rank[lead];
		if (!fus[lead])
			continue;
		if (rank > 1 ? !ia_rows_prefix(&g->nodes[v], &g->nodes[lead], rank)
		             : !ia_rows_only(&g->nodes[v], row_dim[v], g->nodes[lead].part[0]))
			fus[lead] = false;
		members[lead]++;
	}
	for (int v = 0; v < g->nnodes; v++)
		fus[v] = fus[v] && members[v] > 1;
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *x = &ia->tasks[t];
		int64_t first, end;
		if (x->kind == IA_JOIN && fus[x->node] && row_rank[x->node] > 1 &&
		    !ia_task_rows(&g->nodes[x->node], row_rank[x->node], x->lo, x->hi, &first, &end))
			fus[x->node] = false;
	}
	free(members);
	return fus;
}

/* A fusable leader's join, by its node and first row (ia_rows_join). */
typedef struct IaRowsJoin {
	int node;
	int64_t lo, hi;
	int task;
} IaRowsJoin;

static int ia_rows_cmp(const void *pa, const void *pb)
{
	const IaRowsJoin *a = pa, *b = pb;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return (a->task > b->task) - (a->task < b->task);
}

/* The join of leader lead whose rows are m's (along m's index rd),
 * among the n sorted joins of lj; -1 if none. The members' joins are
 * found by their row range: the same count of blocks over the same
 * extent cuts the same ranges. */
static int ia_rows_join(const IaRowsJoin *lj, int n, int lead, int64_t first, int64_t end)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (lj[mid].node < lead || (lj[mid].node == lead && lj[mid].lo < first))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && lj[lo].node == lead && lj[lo].lo == first && lj[lo].hi == end)
		return lj[lo].task;
	return -1;
}

/* Task x's rows in its group: along its row index rd, or flattened over
 * the group's first rank > 1 indices. */
static void ia_member_rows(const TraGraph *g, const IaTask *x, int rd, int rank, int64_t *first, int64_t *end)
{
	if (rank > 1 && ia_task_rows(&g->nodes[x->node], rank, x->lo, x->hi, first, end))
		return;
	*first = x->lo[rd];
	*end = x->hi[rd];
}

/* Folds the member joins ms[0 .. n) (in id order) into the group's join
 * t of the same rows: t takes their inputs from outside the group, each
 * once (mark[u] == t when u is already one of t's), and their costs;
 * each member only follows t. */
static void ia_fold(IaGraph *ia, const int *leader, int t, const int *ms, int n, int *mark)
{
	IaTask *lt = &ia->tasks[t];
	int lead = leader[lt->node], nin = lt->nin, cap = lt->nin + 8;
	int *in = xmalloc((size_t)cap * sizeof *in);
	for (int i = 0; i < lt->nin; i++)
		mark[in[i] = lt->in[i]] = t;
	for (int k = 0; k < n; k++) {
		IaTask *mt = &ia->tasks[ms[k]];
		for (int i = 0; i < mt->nin; i++) {
			int u = mt->in[i];
			if (leader[ia->tasks[u].node] == lead || mark[u] == t)
				continue;
			if (nin == cap)
				in = xrealloc(in, (size_t)(cap *= 2) * sizeof *in);
			mark[in[nin++] = u] = t;
		}
		lt->flops += mt->flops;
		lt->bytes += mt->bytes;
		mt->kind = IA_FUSED;
		mt->flops = mt->bytes = 0;
		mt->gemm = false;
		mt->in = arena_alloc(ia->arena, sizeof *mt->in);
		mt->in[0] = t;
		mt->nin = 1;
	}
	if (nin > lt->nin) {
		lt->in = arena_alloc(ia->arena, (size_t)nin * sizeof *lt->in);
		memcpy(lt->in, in, (size_t)nin * sizeof *in);
		lt->nin = nin;
	}
	free(in);
}

/* Row fusion, linear in the tasks but for sorting the leaders' joins:
 * each member join finds its leader's join of the same rows by binary
 * search, and the joins of each row block are folded into it in id
 * order. (It once scanned every task for every leader's join.) */
void ia_fuse_rows(IaGraph *ia, const int *leader, const int *row_dim, const int *row_rank)
{
	bool *fus = ia_fusable_groups(ia, leader, row_dim, row_rank);
	int nt = ia->ntasks, nlj = 0;
	IaRowsJoin *lj = xmalloc(((size_t)nt + 1) * sizeof *lj);
	for (int t = 0; t < nt; t++) {
		IaTask *x = &ia->tasks[t];
		if (x->kind == IA_JOIN && x->node == leader[x->node] && fus[x->node]) {
			int64_t first, end;
			ia_member_rows(ia->g, x, 0, row_rank[x->node], &first, &end);
			x->rows = x->node;
			lj[nlj++] = (IaRowsJoin){x->node, first, end, t};
		}
	}
	qsort(lj, (size_t)nlj, sizeof *lj, ia_rows_cmp);
	/* the members of each leader join, in id order: a counting sort */
	int *start = xcalloc((size_t)nt + 2, sizeof *start), *target = xmalloc(((size_t)nt + 1) * sizeof *target);
	for (int m = 0; m < nt; m++) {
		const IaTask *mt = &ia->tasks[m];
		int lead = leader[mt->node];
		bool member = mt->kind == IA_JOIN && mt->node != lead && fus[lead];
		target[m] = -1;
		if (member) {
			int64_t first, end;
			ia_member_rows(ia->g, mt, row_dim[mt->node], row_rank[lead], &first, &end);
			target[m] = ia_rows_join(lj, nlj, lead, first, end);
		}
		if (target[m] >= 0)
			start[target[m] + 2]++;
	}
	for (int t = 0; t < nt; t++)
		start[t + 2] += start[t + 1];
	int *ms = xmalloc(((size_t)nt + 1) * sizeof *ms), *mark = xmalloc(((size_t)nt + 1) * sizeof *mark);
	for (int m = 0; m < nt; m++) {
		mark[m] = -1;
		if (target[m] >= 0)
			ms[start[target[m] + 1]++] = m;
	}
	for (int t = 0; t < nt; t++) /* start[t] .. start[t + 1]: t's members */
		if (start[t + 1] > start[t])
			ia_fold(ia, leader, t, ms + start[t], start[t + 1] - start[t], mark);
	if (nlj)
		ia_consumers(ia);
	free(fus);
	free(lj);
	free(start);
	free(target);
	free(ms);
	free(mark);
}

int *ia_topo_order(const IaGraph *ia)
{
	int n = ia->ntasks, done = 0;
	int *order = xcalloc((size_t)n + 1, sizeof *order), *waits = xcalloc((size_t)n + 1, sizeof *waits);
	for (int t = 0; t < n; t++)
		if ((waits[t] = ia->tasks[t].nin) == 0)
			order[done++] = t;
	for (int i = 0; i < done; i++)
		for (int c = 0; c < ia->ncons[order[i]]; c++)
			if (--waits[ia->cons[order[i]][c]] == 0)
				order[done++] = ia->cons[order[i]][c];
	TRAC_ASSERT(done == n);
	free(waits);
	return order;
}

/* ---- the dumps ----------------------------------------------------------------------- */

/* "[0:4, 2:4 | 0:3]": the block, the reduced ranges of a join after '|'. */
static void ia_dump_block(const IaGraph *ia, const IaTask *t, FILE *out)
{
	int rank = ia->g->nodes[t->node].rank;
	fputc('[', out);
	for (int d = 0; d < t->ndim; d++)
		fprintf(out, "%s%" PRId64 ":%" PRId64, d == rank ? (d ? " | " : "| ") : d ? ", " : "",
		        t->lo[d], t->hi[d]);
	fputc(']', out);
}

static void ia_dump_inputs(const IaTask *t, FILE *out)
{
	if (t->nin == 0)
		fputc('-', out);
	for (int i = 0; i < t->nin; i++)
		fprintf(out, "%st%d", i ? "," : "", t->in[i]);
}

/* --emit=ia: per TRA node, a header and its tasks, one per line:
 *
 *   node %4 Hd: partition i:2 j:2 k:1; 4 join
 *     t8   join   Hd[0:256, 0:256 | 0:256]  <- t4,t5,t6     flops 1.7e+07  bytes 5.3e+05  dev 1
 *
 * Leaves and repartitions are listed under the node whose blocks they
 * make; the device column appears once tasks are placed. A join that
 * computes its row group's rows says so ("rows of its group"); the
 * joins it took over are "fused" tasks after it. */
/* The task ids grouped by node, in id order within each: node v's are
 * byid[first[v] .. first[v + 1]) (a counting sort: ia_dump once looked
 * through every task for every node, quadratic on large graphs). */
static int *ia_tasks_by_node(const IaGraph *ia, int **first)
{
	int nn = ia->g->nnodes;
	int *start = xcalloc((size_t)nn + 2, sizeof *start);
	int *byid = xmalloc(((size_t)ia->ntasks + 1) * sizeof *byid);
	for (int t = 0; t < ia->ntasks; t++)
		start[ia->tasks[t].node + 2]++;
	for (int v = 0; v < nn; v++)
		start[v + 2] += start[v + 1];
	for (int t = 0; t < ia->ntasks; t++)
		byid[start[ia->tasks[t].node + 1]++] = t;
	*first = start; /* start[v] is now where node v's tasks begin */
	return byid;
}

static void ia_dump_task(const IaGraph *ia, int t, FILE *out)
{
	const IaTask *x = &ia->tasks[t];
	fprintf(out, "  t%-4d %-6s %s", t, ia_kind_name(x->kind), ia->g->nodes[x->node].name);
	ia_dump_block(ia, x, out);
	fputs("  <- ", out);
	ia_dump_inputs(x, out);
	fprintf(out, "  flops %.3g  bytes %.3g", x->flops, x->bytes);
	if (x->rows >= 0)
		fputs("  rows of its group", out);
	if (x->device >= 0)
		fprintf(out, "  dev %d", x->device);
	fputc('\n', out);
}

void ia_dump(const IaGraph *ia, FILE *out)
{
	const TraGraph *g = ia->g;
	int *first, *byid = ia_tasks_by_node(ia, &first);
	fprintf(out, "# IA task graph: %d tasks\n", ia->ntasks);
	for (int v = 0; v < g->nnodes; v++) {
		const TraNode *n = &g->nodes[v];
		int count[IA_FUSED + 1] = {0};
		for (int i = first[v]; i < first[v + 1]; i++)
			count[ia->tasks[byid[i]].kind]++;
		fprintf(out, "node %%%d %s:", v, n->name);
		for (int d = 0; n->part && d < n->nidx; d++)
			fprintf(out, "%s%s:%d", d ? " " : " partition ", n->idx[d].name, n->part[d]);
		const char *sep = n->part ? ";" : "";
		for (int k = 0; k <= IA_FUSED; k++)
			if (count[k]) {
				fprintf(out, "%s %d %s", sep, count[k], ia_kind_name((IaKind)k));
				sep = ",";
			}
		fputc('\n', out);
		for (int i = first[v]; i < first[v + 1]; i++)
			ia_dump_task(ia, byid[i], out);
	}
	free(first);
	free(byid);
}

/* --emit=taskgraph: a header line, then one line per task in id order
 * (a topological order), fields separated by one space:
 *
 *   # taskgraph tasks=N devices=D
 *   t<ID> <KIND> <NODE> <BLOCK> in=<IDS> flops=<F> bytes=<B> dev=<DEV> prio=<P>
 *
 * KIND is input, join, agg, repart or fused; NODE the TRA node's name; BLOCK is
 * lo:hi per dimension, comma-separated, with a join's reduced ranges after
 * '|' ("0:4,0:2|0:3"; "-" for a scalar); IDS the input tasks, "t3,t4", or
 * "-"; F and B are %.6g; DEV the device (-1 unplaced) and P the
 * priority in microseconds (%.6g). */
void ia_dump_taskgraph(const IaGraph *ia, FILE *out)
{
	fprintf(out, "# taskgraph tasks=%d devices=%d\n", ia->ntasks, ia->ndevices);
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *x = &ia->tasks[t];
		int rank = ia->g->nodes[x->node].rank;
		fprintf(out, "t%d %s %s ", t, ia_kind_name(x->kind), ia->g->nodes[x->node].name);
		if (x->ndim == 0)
			fputc('-', out);
		for (int d = 0; d < x->ndim; d++)
			fprintf(out, "%s%" PRId64 ":%" PRId64, d == rank ? "|" : d ? "," : "", x->lo[d], x->hi[d]);
		fputs(" in=", out);
		ia_dump_inputs(x, out);
		fprintf(out, " flops=%.6g bytes=%.6g dev=%d prio=%.6g\n", x->flops, x->bytes, x->device,
		        x->priority * 1e6);
	}
}
