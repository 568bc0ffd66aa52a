/* needs: a verified, optimised TraGraph before decomp_run; after placement, its IaGraph. gives: reuse chains (TraGraph.reuse), their partitions, their tasks' devices and priorities. */
/* reuse.c: reuse chains, so that a tensor larger than the cache that two
 * contractions read, one feeding the other, comes from memory once.
 *
 * W5's gradient g = X^T (sigmoid(X w) - y) / N reads X (400 MB) in
 * z = X w and again in g = X^T r. Cut into one row block per thread,
 * each reader streams its 200 MB block from memory, so X is read twice:
 * 17.5 ms, against NumPy's 20 ms for its two GEMVs. Cut into row blocks
 * of about REUSE_BLOCK_BYTES, with each block's z, r and g run one after
 * the other on one worker, g reads the block z has just brought into
 * cache: 10.3-12.8 ms (2 threads, 100 and 200 blocks; 2 MiB of L2 and
 * 32 MiB of L3 here).
 *
 * A chain is found for a tensor X of at least REUSE_MIN_BYTES (more than
 * a last-level cache, so a second read goes to memory) and a pair of its
 * einsum readers A and B, B depending on A:
 *   - its members are A, B and every node on a path from A to B;
 *   - each has a row index. A's is the output index it reads X's first
 *     dimension at. Every other member reads each member it reads at that
 *     member's row index, always with one index of its own: its row
 *     index, an output index but for B's, which may be reduced (g's i);
 *     a member that reads X reads its first dimension there. No read of
 *     a member or of X is affine, and no member is a scatter-add;
 *   - A and B are not in one row group (kplan_row_groups already runs a
 *     group chunk of rows by chunk of rows: W4's max and sum);
 *   - what the row blocks add costs under a REUSE_SHARE-th of the read
 *     they save, |X| bytes: B's partial results when its row index is
 *     reduced (nb blocks of B written and read again), and each operand
 *     over REUSE_BLOCK_BYTES that a member reads whole in every row block
 *     (nb reads). W5 adds 800 kB; W7's dW1 = X^T dH would add 8 partials
 *     of 16 MB to save a 32 MB read, so it is no chain;
 *   - no member is in another chain or fixed by --partition.
 * Every member is then cut into the same nb row blocks, nb = |X| /
 * REUSE_BLOCK_BYTES (at least the devices, at most the rows and
 * REUSE_MAX_BLOCKS), and along nothing else, as --partition=NODE:ROW=nb
 * would cut it; decomp_run searches the rest of the graph around them.
 *
 * After placement (reuse_place), the tasks of one row block of a chain
 * run on the device the placer chose for the block's first member, and
 * the chain's priorities run depth first: every task of row block b
 * before any of block b + 1, each block's members in node order, all
 * just under the chain's highest b-level, so the chain keeps its place
 * against other work. With b-levels, every z block ran before any g
 * block, and the blocks were out of cache again when g read them
 * (15.5-16.4 ms with the same 100 row blocks).
 *
 * The driver looks for chains for block tasks on CPUs without a memory
 * budget: under --memory, driver_fit_budget sizes the blocks; on GPUs a
 * 400 MB tensor is read in 0.13 ms, less than 300 small tasks would cost.
 */
#include "kplan.h"

#include <stdlib.h>
#include <string.h>

#define REUSE_MIN_BYTES (32.0 * 1024 * 1024) /* X: more than a last-level cache */
#define REUSE_BLOCK_BYTES (2.0 * 1024 * 1024) /* X's row block: an L2 or two */
#define REUSE_SHARE 4           /* the added bytes: under a quarter of the saved */
#define REUSE_MAX_BLOCKS 4096   /* --partition's own limit per index */
#define REUSE_MAX_WALKS 64      /* pairs A, B whose paths are walked */

/* The search's state; arrays are indexed by node id. */
typedef struct Reuse {
	TraGraph *g;
	int devices;
	int *const *fixed;
	int *leader;      /* kplan_row_groups's */
	char *down, *up;  /* reached from A; reaching B */
	int *row;         /* the row index of each member of the chain being tried */
	int nchains;
} Reuse;

static double reuse_bytes(const TraNode *n)
{
	return (double)tra_node_elements(n) * (double)trart_dtype_size(n->type);
}

/* The index node v reads X's first dimension at, the same in every read;
 * -1 if it reads X otherwise (affinely, with a constant, or two ways); -2
 * if it does not read X. */
static int reuse_x_row(const TraNode *v, int x)
{
	int row = -2;
	for (int k = 0; k < v->nops; k++) {
		const TraOperand *op = &v->ops[k];
		if (op->node != x)
			continue;
		if (op->aff || op->idx[0] < 0 || (row != -2 && row != op->idx[0]))
			return -1;
		row = op->idx[0];
	}
	return row;
}

/* The members from a to b: down[v] (v reaches from a) and up[v] (v
 * reaches b), both walked over a..b in the topological order. */
static void reuse_walk(Reuse *r, int a, int b)
{
	const TraGraph *g = r->g;
	memset(r->down + a, 0, (size_t)(b - a + 1));
	memset(r->up + a, 0, (size_t)(b - a + 1));
	r->down[a] = 1;
	for (int v = a + 1; v <= b; v++)
		for (int k = 0; k < g->nodes[v].nops && !r->down[v]; k++)
			r->down[v] = g->nodes[v].ops[k].node >= a && r->down[g->nodes[v].ops[k].node];
	r->up[b] = r->down[b];
	for (int v = b; v > a; v--)
		if (r->up[v])
			for (int k = 0; k < g->nodes[v].nops; k++)
				if (g->nodes[v].ops[k].node >= a)
					r->up[g->nodes[v].ops[k].node] = 1;
}

static bool reuse_member(const Reuse *r, int v, int a, int b)
{
	return v >= a && v <= b && r->down[v] && r->up[v];
}

/* Member v's row index from what it reads (reuse.c's rule), or -1. */
static int reuse_member_row(const Reuse *r, int v, int x, int a, int b)
{
	const TraNode *n = &r->g->nodes[v];
	int row = -1;
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		if (!reuse_member(r, op->node, a, b))
			continue;
		int at = op->aff ? -1 : op->idx[r->row[op->node]];
		if (at < 0 || (row >= 0 && at != row))
			return -1;
		row = at;
	}
	int xr = reuse_x_row(n, x);
	if (xr == -1 || (xr >= 0 && xr != row))
		return -1;
	return row;
}

/* The bytes nb row blocks add to member v (reuse.c's cost rule). */
static double reuse_added(const Reuse *r, int v, int x, int a, int b, int nb)
{
	const TraGraph *g = r->g;
	const TraNode *n = &g->nodes[v];
	double added = 0;
	if (v == b && r->row[v] >= n->rank)
		added += 2.0 * nb * reuse_bytes(n);
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		const TraNode *p = &g->nodes[op->node];
		if (op->node == x || reuse_member(r, op->node, a, b) || reuse_bytes(p) <= REUSE_BLOCK_BYTES)
			continue;
		bool cut = false;
		for (int d = 0; d < op->rank; d++)
			cut |= op->idx[d] == r->row[v];
		if (!cut)
			added += nb * reuse_bytes(p);
	}
	return added;
}

/* The row blocks for X: one per REUSE_BLOCK_BYTES, at least the
 * devices, at most its rows and REUSE_MAX_BLOCKS; 0 when a block would
 * still be over twice REUSE_BLOCK_BYTES (rows too long to cut small). */
static int reuse_blocks(const Reuse *r, const TraNode *xn)
{
	double want = reuse_bytes(xn) / REUSE_BLOCK_BYTES;
	int64_t rows = xn->idx[0].size;
	int64_t nb = (int64_t)want + (want > (int64_t)want);
	if (nb < r->devices)
		nb = r->devices;
	if (nb > rows)
		nb = rows;
	if (nb > REUSE_MAX_BLOCKS)
		nb = REUSE_MAX_BLOCKS;
	return reuse_bytes(xn) / (double)nb > 2 * REUSE_BLOCK_BYTES ? 0 : (int)nb;
}

/* Whether a..b, with a reading x at a's row index ra, is a chain (the
 * rule above); if so, marks its members. */
static bool reuse_try(Reuse *r, int x, int a, int ra, int b)
{
	TraGraph *g = r->g;
	if (r->leader[a] == r->leader[b])
		return false;
	int nb = reuse_blocks(r, &g->nodes[x]);
	if (nb == 0)
		return false;
	reuse_walk(r, a, b);
	if (!r->up[a])
		return false;
	double added = 0;
	for (int v = a; v <= b; v++) {
		if (!reuse_member(r, v, a, b))
			continue;
		const TraNode *n = &g->nodes[v];
		if (n->kind != TRA_NODE_EINSUM || tra_node_is_scatter(n) || g->reuse[v].chain ||
		    (r->fixed && r->fixed[v]))
			return false;
		r->row[v] = v == a ? ra : reuse_member_row(r, v, x, a, b);
		if (r->row[v] < 0 || (v != b && r->row[v] >= n->rank))
			return false;
		added += reuse_added(r, v, x, a, b, nb);
	}
	if (added * REUSE_SHARE >= reuse_bytes(&g->nodes[x]))
		return false;
	r->nchains++;
	for (int v = a; v <= b; v++)
		if (reuse_member(r, v, a, b))
			g->reuse[v] = (TraReuse){.chain = r->nchains, .row = r->row[v], .blocks = nb, .tensor = x};
	return true;
}

/* Chains for tensor x: each reader A, in order, with its first later
 * reader B that makes one; at most REUSE_MAX_WALKS pairs in all (each
 * walks the nodes between them), so a tensor that thousands of nodes
 * read keeps compiling in linear time. */
static void reuse_tensor(Reuse *r, int x, int *walks)
{
	const TraGraph *g = r->g;
	for (int a = x + 1; a < g->nnodes && *walks < REUSE_MAX_WALKS; a++) {
		int ra = reuse_x_row(&g->nodes[a], x);
		if (ra < 0 || ra >= g->nodes[a].rank || g->reuse[a].chain)
			continue;
		for (int b = a + 1; b < g->nnodes && *walks < REUSE_MAX_WALKS; b++)
			if (reuse_x_row(&g->nodes[b], x) >= 0 && (++*walks, reuse_try(r, x, a, ra, b)))
				break;
	}
}

int reuse_find(TraGraph *g, int devices, int *const *fixed)
{
	Reuse r = {.g = g, .devices = devices, .fixed = fixed};
	g->reuse = NULL;
	int walks = 0;
	for (int x = 0; x < g->nnodes; x++) {
		const TraNode *n = &g->nodes[x];
		if (n->rank < 1 || reuse_bytes(n) < REUSE_MIN_BYTES)
			continue;
		if (!r.leader) {
			r.leader = xcalloc((size_t)g->nnodes + 1, sizeof *r.leader);
			r.down = xcalloc((size_t)g->nnodes + 1, 1);
			r.up = xcalloc((size_t)g->nnodes + 1, 1);
			r.row = xcalloc((size_t)g->nnodes + 1, sizeof *r.row);
			g->reuse = arena_alloc(g->arena, (size_t)g->nnodes * sizeof *g->reuse);
			memset(g->reuse, 0, (size_t)g->nnodes * sizeof *g->reuse);
			kplan_row_groups(g, r.leader);
		}
		reuse_tensor(&r, x, &walks);
	}
	if (r.nchains == 0)
		g->reuse = NULL;
	free(r.leader);
	free(r.down);
	free(r.up);
	free(r.row);
	return r.nchains;
}

int *reuse_partition(TraGraph *g, int id)
{
	const TraNode *n = &g->nodes[id];
	int *part = arena_alloc(g->arena, (size_t)n->nidx * sizeof *part);
	for (int d = 0; d < n->nidx; d++)
		part[d] = d == g->reuse[id].row ? g->reuse[id].blocks : 1;
	return part;
}

/* ---- after placement ------------------------------------------------------------ */

/* A chain's join task, with what orders it: its chain, the start of its
 * row block, its node. */
typedef struct ReuseTask {
	int t, chain, node;
	int64_t lo;
} ReuseTask;

static int reuse_task_cmp(const void *pa, const void *pb)
{
	const ReuseTask *a = pa, *b = pb;
	if (a->chain != b->chain)
		return a->chain < b->chain ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->node != b->node)
		return a->node < b->node ? -1 : 1;
	return (a->t > b->t) - (a->t < b->t);
}

/* Priorities from top down, each eps below the last: the chain's tasks in
 * their depth-first order (rt[from..to), sorted). */
static void reuse_depth_first(IaGraph *ia, const ReuseTask *rt, int from, int to)
{
	double top = 0;
	for (int i = from; i < to; i++)
		if (ia->tasks[rt[i].t].priority > top)
			top = ia->tasks[rt[i].t].priority;
	/* far below any task's own time, so the chain keeps its place */
	double eps = (top > 0 ? top : 1) * 1e-9;
	for (int i = from; i < to; i++)
		ia->tasks[rt[i].t].priority = top - (i - from) * eps;
}

/* Every task at least as urgent as its readers, in one pass from the
 * readers up (Kahn's order over ia, reversed). B-levels are so already;
 * the chains' are not: y's leaf block, which only r reads, had r's own
 * b-level, under the chain's, and ran after every z of its worker. */
static void reuse_lift(IaGraph *ia)
{
	int *order = ia_topo_order(ia);
	for (int i = ia->ntasks - 1; i >= 0; i--) {
		IaTask *k = &ia->tasks[order[i]];
		for (int c = 0; c < ia->ncons[order[i]]; c++)
			if (ia->tasks[ia->cons[order[i]][c]].priority > k->priority)
				k->priority = ia->tasks[ia->cons[order[i]][c]].priority;
	}
	free(order);
}

void reuse_place(IaGraph *ia)
{
	const TraGraph *g = ia->g;
	if (!g->reuse)
		return;
	ReuseTask *rt = xcalloc((size_t)ia->ntasks + 1, sizeof *rt);
	int n = 0;
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *k = &ia->tasks[t];
		if (k->kind != IA_JOIN || k->node < 0 || !g->reuse[k->node].chain)
			continue;
		rt[n++] = (ReuseTask){t, g->reuse[k->node].chain, k->node, k->lo[g->reuse[k->node].row]};
	}
	qsort(rt, (size_t)n, sizeof *rt, reuse_task_cmp);
	for (int i = 0, first = 0; i < n; i++) {
		if (i > 0 && (rt[i].chain != rt[i - 1].chain || rt[i].lo != rt[i - 1].lo))
			first = i;
		ia->tasks[rt[i].t].device = ia->tasks[rt[first].t].device;
	}
	for (int i = 0, from = 0; i <= n; i++)
		if (i == n || rt[i].chain != rt[from].chain) {
			reuse_depth_first(ia, rt, from, i);
			from = i;
		}
	free(rt);
	reuse_lift(ia);
}
