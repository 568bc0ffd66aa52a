/* needs: a verified, optimised TraGraph before decomp_run; after placement, its IaGraph. gives: reuse chains (TraGraph.reuse), their partitions, their tasks' devices and priorities. */
/* reuse.c: reuse chains, so that a tensor larger than the cache that
 * several nodes read, one feeding the next, comes from memory once, or
 * never goes there at all.
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
 * W3's attention writes its scores A[b, h, s, t] = Q K^T (512 MB), and
 * M (their row maxima), E = exp(A - M), E's row sums and O = E V read
 * them back, A three times and E twice. Cut into one block per head
 * (b, h), 4 MB of A, with each head's five tasks run one after the
 * other, every read after A's write comes from cache: 239-267 ms
 * against 265-302 ms, on 2 threads in the same three rounds. Cut into
 * quarter heads (b, h and 256 rows of s), 1 MiB, the reads come from L2:
 * the row group M, E, row sums took 52 ms of the workers' time a run
 * (trace) against 63, and O = E V 200 against 213; A's GEMM is unchanged.
 *
 * A chain is found for a tensor X of at least REUSE_MIN_BYTES (more than
 * a last-level cache, so a second read goes to memory), from a node A to
 * a node B that depends on it, in one of two shapes:
 *   - readers: A and B are two einsum readers of X (W5's z and g);
 *   - producer: A is X's own einsum and B any later node (W3's A and O).
 *     A reads its operands plainly (no affine index); one that lacks a
 *     row index (W3's K lacks s) is read again by each block along it,
 *     which the cost rule below counts.
 * Either way:
 *   - its members are A, B and every node on a path from A to B;
 *   - each has nd row indices, 1 <= nd <= TRA_REUSE_DIMS: the indices
 *     its row blocks cut. A's are the output indices it reads X's first
 *     nd dimensions at (a producer's: its own first nd). Every other
 *     member reads each member it reads at that member's row indices,
 *     always with the same indices of its own: its row indices, output
 *     indices but for B's, which may be reduced (g's i); a member that
 *     reads X reads its first nd dimensions there. No read of a member
 *     or of X is affine, and no member is a scatter-add;
 *   - nd is the fewest leading dimensions of X that can be cut into
 *     blocks near REUSE_BLOCK_BYTES for a reader chain, and near half
 *     that for a producer chain, whose block is written and read back,
 *     so it and what the members read with it must stay in an L2 (1 MiB
 *     here): W5's X has 97,656 rows (nd = 1), W3's scores 8 along b,
 *     16 along h and 1024 along s, so nd = 3 (8 x 16 x 4 blocks of
 *     1 MiB). W3 ran 213-225 ms so, against 224-228 with blocks of
 *     512 KiB, 231-252 of 2 MiB and 234-241 of 4 MiB, one a head (2
 *     threads, interleaved medians of 7);
 *   - A and B are not in one row group (kplan_row_groups already runs a
 *     group chunk of rows by chunk of rows: W4's max and sum);
 *   - what the row blocks add costs under a REUSE_SHARE-th of the read
 *     they save, |X| bytes: B's partial results when a row index of it
 *     is reduced (as many blocks of B as that index has, written and
 *     read again), and each operand over REUSE_BLOCK_BYTES that a member
 *     reads in several row blocks (as many reads as the blocks along the
 *     row indices it lacks, but one for consecutive blocks that read one
 *     slice of at most REUSE_BLOCK_BYTES: reuse_memory_reads). W5 adds
 *     800 kB; W7's dW1 = X^T dH would add 8 partials of 16 MB to save a
 *     32 MB read, so it is no chain;
 *   - no member is in another chain or fixed by --partition.
 * Every member is then cut into the same row blocks, blocks[j] along its
 * row index j, and along nothing else, as --partition=NODE:ROW=N,...
 * would cut it; decomp_run searches the rest of the graph around them.
 * A producer chain ends at the last node that makes one, so that it
 * takes in everything that reads the block while it is in cache.
 *
 * After placement (reuse_place), the tasks of one row block of a chain
 * (its joins, and the joins its row groups fused, which only order)
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
 * --reuse=MIN,BLOCK replaces REUSE_MIN_BYTES and REUSE_BLOCK_BYTES (the
 * property test finds chains in small random programs so), and
 * --reuse=none finds none.
 */
#include "kplan.h"

#include <stdlib.h>
#include <string.h>

/* The defaults of ReuseSizes (--reuse=MIN,BLOCK): */
#define REUSE_MIN_BYTES (32.0 * 1024 * 1024) /* X: more than a last-level cache */
#define REUSE_BLOCK_BYTES (2.0 * 1024 * 1024) /* X's row block: an L2 or two */
#define REUSE_PRODUCER_SHARE 2  /* a producer chain's blocks: half a block */
#define REUSE_SHARE 4           /* the added bytes: under a quarter of the saved */
#define REUSE_MAX_BLOCKS 4096   /* --partition's own limit per index */
#define REUSE_MAX_WALKS 64      /* pairs A, B whose paths are walked */

/* The search's state; arrays are indexed by node id. */
typedef struct Reuse {
	TraGraph *g;
	int devices;
	int *const *fixed;
	double min_bytes, block_bytes; /* ReuseSizes's, the defaults filled in */
	int *leader;      /* kplan_row_groups's */
	char *down, *up;  /* reached from A; reaching B */
	int (*row)[TRA_REUSE_DIMS]; /* the row indices of each member of the chain being tried */
	int nd;                     /* how many */
	int blocks[TRA_REUSE_DIMS]; /* the blocks along each */
	int walks;                  /* pairs walked so far, at most REUSE_MAX_WALKS */
	int nchains;
} Reuse;

static double reuse_bytes(const TraNode *n)
{
	return (double)tra_node_elements(n) * (double)trart_dtype_size(n->type);
}

/* The indices node v reads X's first nd dimensions at (into row), the
 * same in every read and all distinct: 1; 0 if v does not read X; -1 if
 * it reads X otherwise (affinely, with a constant, or two ways). */
static int reuse_x_row(const TraNode *v, int x, int nd, int *row)
{
	int found = 0;
	for (int k = 0; k < v->nops; k++) {
		const TraOperand *op = &v->ops[k];
		if (op->node != x)
			continue;
		if (op->aff)
			return -1;
		for (int j = 0; j < nd; j++) {
			if (op->idx[j] < 0 || (found && row[j] != op->idx[j]))
				return -1;
			for (int i = 0; i < j; i++)
				if (op->idx[i] == op->idx[j])
					return -1;
			row[j] = op->idx[j];
		}
		found = 1;
	}
	return found;
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

/* Member v's row indices from what it reads (reuse.c's rule) into
 * r->row[v]: whether it has them. */
static bool reuse_member_row(Reuse *r, int v, int x, int a, int b)
{
	const TraNode *n = &r->g->nodes[v];
	int *row = r->row[v];
	bool found = false;
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		if (op->node == x || !reuse_member(r, op->node, a, b))
			continue;
		if (op->aff)
			return false;
		for (int j = 0; j < r->nd; j++) {
			int at = op->idx[r->row[op->node][j]];
			if (at < 0 || (found && at != row[j]))
				return false;
			row[j] = at;
		}
		found = true;
	}
	int xrow[TRA_REUSE_DIMS];
	int xr = reuse_x_row(n, x, r->nd, xrow);
	if (xr < 0 || (xr > 0 && found && memcmp(xrow, row, (size_t)r->nd * sizeof *row) != 0))
		return false;
	if (xr > 0 && !found)
		memcpy(row, xrow, (size_t)r->nd * sizeof *row);
	return found || xr > 0;
}

/* How many partial results of member v its row blocks make: the blocks
 * along the row indices it reduces. */
static double reuse_partials(const Reuse *r, const TraNode *n, int v)
{
	double blocks = 1;
	for (int j = 0; j < r->nd; j++)
		if (r->row[v][j] >= n->rank)
			blocks *= r->blocks[j];
	return blocks;
}

/* Whether operand op reads its node's index x. */
static bool reuse_op_reads(const TraOperand *op, int x)
{
	for (int d = 0; d < op->rank; d++)
		if (op->idx[d] == x)
			return true;
	return false;
}

/* How many times member v's row blocks read its operand op: the blocks
 * along the row indices op does not read. */
static double reuse_reads(const Reuse *r, int v, const TraOperand *op)
{
	double blocks = 1;
	for (int j = 0; j < r->nd; j++)
		if (!reuse_op_reads(op, r->row[v][j]))
			blocks *= r->blocks[j];
	return blocks;
}

/* How many of the reads reuse_reads counts come from memory. The row
 * blocks run in C order over the row indices, so an operand that lacks
 * the last ones (W3's K[b, h, t, d] lacks s) is read at one slice by
 * consecutive blocks (the 4 blocks along s of one head): when that
 * slice, its bytes over the blocks along the row indices it reads, is at
 * most a block, only the first of them reads it from memory. */
static double reuse_memory_reads(const Reuse *r, int v, const TraOperand *op, const TraNode *p)
{
	double reads = reuse_reads(r, v, op), slice = reuse_bytes(p), inner = 1;
	int last = r->nd; /* the row indices from last on are those op lacks at the end */
	while (last > 0 && !reuse_op_reads(op, r->row[v][last - 1]))
		inner *= r->blocks[--last];
	for (int j = 0; j < last; j++)
		if (reuse_op_reads(op, r->row[v][j]))
			slice /= r->blocks[j];
	return slice <= r->block_bytes ? reads / inner : reads;
}

/* The bytes the row blocks add to member v (reuse.c's cost rule). */
static double reuse_added(const Reuse *r, int v, int x, int a, int b)
{
	const TraGraph *g = r->g;
	const TraNode *n = &g->nodes[v];
	double added = 0, partials = v == b ? reuse_partials(r, n, v) : 1;
	if (partials > 1)
		added += 2.0 * partials * reuse_bytes(n);
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		const TraNode *p = &g->nodes[op->node];
		if (op->node == x || reuse_member(r, op->node, a, b) || reuse_bytes(p) <= r->block_bytes)
			continue;
		double reads = reuse_memory_reads(r, v, op, p);
		if (reads > 1)
			added += reads * reuse_bytes(p);
	}
	return added;
}

/* The row blocks for X along its first r->nd dimensions (r->blocks):
 * as few leading dimensions cut as give one block per bytes, at least
 * the devices, at most each dimension's size and REUSE_MAX_BLOCKS; false
 * when a block would still be over twice bytes (rows too long to cut
 * small along nd dimensions). */
static bool reuse_blocks(Reuse *r, const TraNode *xn, double bytes)
{
	double want = reuse_bytes(xn) / bytes, nb = 1;
	if (want < r->devices)
		want = r->devices;
	for (int j = 0; j < r->nd; j++) {
		double need = want / nb;
		int64_t cut = (int64_t)need + (need > (int64_t)need);
		if (cut > xn->idx[j].size)
			cut = xn->idx[j].size;
		if (cut > REUSE_MAX_BLOCKS)
			cut = REUSE_MAX_BLOCKS;
		r->blocks[j] = (int)cut;
		nb *= (double)cut;
	}
	return reuse_bytes(xn) / nb <= 2 * bytes;
}

/* r->nd and r->blocks for X: its fewest leading dimensions that
 * reuse_blocks can cut near bytes; false if none. */
static bool reuse_cut(Reuse *r, const TraNode *xn, double bytes)
{
	for (r->nd = 1; r->nd <= TRA_REUSE_DIMS && r->nd <= xn->rank; r->nd++)
		if (reuse_blocks(r, xn, bytes))
			return true;
	return false;
}

/* Whether x's node reads every operand plainly (no affine index), so
 * that a row block of x reads a box of each. */
static bool reuse_plain_reads(const TraNode *xn)
{
	for (int k = 0; k < xn->nops; k++)
		if (xn->ops[k].aff)
			return false;
	return true;
}

/* Whether member v's row indices (r->row[v]) are distinct, and output
 * indices unless v is the chain's last member b. */
static bool reuse_rows_ok(const Reuse *r, const TraNode *n, int v, int b)
{
	for (int j = 0; j < r->nd; j++) {
		if (r->row[v][j] < 0 || r->row[v][j] >= n->nidx || (v != b && r->row[v][j] >= n->rank))
			return false;
		for (int i = 0; i < j; i++)
			if (r->row[v][i] == r->row[v][j])
				return false;
	}
	return true;
}

/* Whether a..b is a chain for x (the rule above), a's row indices set:
 * its members' row indices are then in r->row. One walk. */
static bool reuse_check(Reuse *r, int x, int a, int b)
{
	TraGraph *g = r->g;
	r->walks++;
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
		if ((v != a && !reuse_member_row(r, v, x, a, b)) || !reuse_rows_ok(r, n, v, b))
			return false;
		added += reuse_added(r, v, x, a, b);
	}
	return added * REUSE_SHARE < reuse_bytes(&g->nodes[x]);
}

/* reuse_check, within the walks allowed, where a and b are not one row
 * group's. */
static bool reuse_try(Reuse *r, int x, int a, int b)
{
	return r->leader[a] != r->leader[b] && r->walks < REUSE_MAX_WALKS && reuse_check(r, x, a, b);
}

/* Marks the members of the chain a..b for x, the last reuse_try's. */
static void reuse_mark(Reuse *r, int x, int a, int b)
{
	r->nchains++;
	for (int v = a; v <= b; v++) {
		if (!reuse_member(r, v, a, b))
			continue;
		TraReuse *m = &r->g->reuse[v];
		*m = (TraReuse){.chain = r->nchains, .ndims = r->nd, .tensor = x};
		memcpy(m->row, r->row[v], sizeof m->row);
		memcpy(m->blocks, r->blocks, sizeof m->blocks);
	}
}

/* A producer chain for x: from x's node to the last later node b that
 * makes one, trying the nodes x reaches in order until one does not. */
static bool reuse_producer(Reuse *r, int x)
{
	const TraGraph *g = r->g;
	const TraNode *xn = &g->nodes[x];
	if (xn->kind != TRA_NODE_EINSUM || g->reuse[x].chain || (r->fixed && r->fixed[x]) ||
	    !reuse_plain_reads(xn) || x + 1 >= g->nnodes || r->walks >= REUSE_MAX_WALKS)
		return false;
	r->walks++;
	reuse_walk(r, x, g->nnodes - 1);
	int n = 0, *reach = xcalloc((size_t)(g->nnodes - x), sizeof *reach);
	for (int v = x + 1; v < g->nnodes; v++)
		if (r->down[v])
			reach[n++] = v;
	for (int j = 0; j < r->nd; j++)
		r->row[x][j] = j;
	int best = -1;
	bool last = false;
	for (int i = 0; i < n && (last = reuse_try(r, x, x, reach[i])); i++)
		best = reach[i];
	free(reach);
	/* the try that failed left its own members' rows: find best's again
	 * (one walk more than the budget at worst, once per producer) */
	if (best < 0 || (!last && !reuse_check(r, x, x, best)))
		return false;
	reuse_mark(r, x, x, best);
	return true;
}

/* Reader chains for x: each reader A, in order, with its first later
 * reader B that makes one. */
static void reuse_readers(Reuse *r, int x)
{
	const TraGraph *g = r->g;
	for (int a = x + 1; a < g->nnodes && r->walks < REUSE_MAX_WALKS; a++) {
		int arow[TRA_REUSE_DIMS], brow[TRA_REUSE_DIMS];
		if (reuse_x_row(&g->nodes[a], x, r->nd, arow) <= 0 || g->reuse[a].chain)
			continue;
		bool outputs = true; /* A's rows are output indices: else no pair makes a chain */
		for (int j = 0; j < r->nd; j++)
			outputs &= arow[j] < g->nodes[a].rank;
		if (!outputs)
			continue;
		for (int b = a + 1; b < g->nnodes && r->walks < REUSE_MAX_WALKS; b++) {
			if (reuse_x_row(&g->nodes[b], x, r->nd, brow) <= 0)
				continue;
			memcpy(r->row[a], arow, sizeof arow);
			if (reuse_try(r, x, a, b)) {
				reuse_mark(r, x, a, b);
				break;
			}
		}
	}
}

/* Chains for tensor x, cut along its fewest leading dimensions that give
 * blocks small enough; at most REUSE_MAX_WALKS pairs in the whole graph
 * (each walks the nodes between them), so a tensor that thousands of
 * nodes read keeps compiling in linear time. */
static void reuse_tensor(Reuse *r, int x)
{
	const TraNode *xn = &r->g->nodes[x];
	if (reuse_cut(r, xn, r->block_bytes / REUSE_PRODUCER_SHARE) && reuse_producer(r, x))
		return;
	if (reuse_cut(r, xn, r->block_bytes))
		reuse_readers(r, x);
}

int reuse_find(TraGraph *g, int devices, int *const *fixed, const ReuseSizes *sizes)
{
	Reuse r = {.g = g, .devices = devices, .fixed = fixed, .min_bytes = REUSE_MIN_BYTES,
	           .block_bytes = REUSE_BLOCK_BYTES};
	if (sizes && sizes->min_bytes > 0)
		r.min_bytes = (double)sizes->min_bytes;
	if (sizes && sizes->block_bytes > 0)
		r.block_bytes = (double)sizes->block_bytes;
	g->reuse = NULL;
	for (int x = 0; x < g->nnodes; x++) {
		const TraNode *n = &g->nodes[x];
		if (n->rank < 1 || reuse_bytes(n) < r.min_bytes)
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
		reuse_tensor(&r, x);
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
	const TraReuse *m = &g->reuse[id];
	int *part = arena_alloc(g->arena, (size_t)n->nidx * sizeof *part);
	for (int d = 0; d < n->nidx; d++)
		part[d] = 1;
	for (int j = 0; j < m->ndims; j++)
		part[m->row[j]] = m->blocks[j];
	return part;
}

/* ---- after placement ------------------------------------------------------------ */

/* A chain's join task, with what orders it: its chain, its row block's
 * start (its row indices' lower bounds, in C order), its node. */
typedef struct ReuseTask {
	int t, chain, node;
	int64_t lo;
} ReuseTask;

/* Task k's row block's start as one number: its lower bounds along its
 * node's row indices, in C order over their sizes (the same in every
 * member, since each reads the others there). */
static int64_t reuse_block_key(const TraGraph *g, const IaTask *k)
{
	const TraNode *n = &g->nodes[k->node];
	const TraReuse *m = &g->reuse[k->node];
	int64_t key = 0;
	for (int j = 0; j < m->ndims; j++)
		key = key * n->idx[m->row[j]].size + k->lo[m->row[j]];
	return key;
}

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
		/* a fused join (ia_fuse_rows) is one its row group's leading
		 * join computes: it goes where that join goes */
		if ((k->kind != IA_JOIN && k->kind != IA_FUSED) || k->node < 0 || !g->reuse[k->node].chain)
			continue;
		rt[n++] = (ReuseTask){t, g->reuse[k->node].chain, k->node, reuse_block_key(g, k)};
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
