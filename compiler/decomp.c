/* needs: a verified, optimised TraGraph. gives: a partition per einsum node (TraNode.part). */
/* decomp.c: EinDecomp's automatic decomposition of the TRA graph.
 *
 * A node's partition is a block count per index of its join space,
 * output and reduced alike. Block b of an index of size S split n ways
 * covers [b*S/n, (b+1)*S/n): every count from 1 to S is allowed, and the
 * sizes of a split differ by at most one. A node with partition d runs
 * P = prod(d) block kernels; blocks that differ only in reduced indices
 * are partial results that an aggregation combines.
 *
 * Cost, in elements moved (EinDecomp; see RESEARCH.md):
 *   - a node reads each operand k, of |in_k| elements and P_k distinct
 *     blocks (the product of the counts of the indices it is read at),
 *     P / P_k times: sum_k |in_k| * P / P_k;
 *   - a split reduction leaves (|out| / P_out) * (P - P_out) partial
 *     elements to aggregate, P_out being the output indices' product;
 *   - an edge costs the elements the consumer wants in blocks that the
 *     producer did not make: a wanted block equal to a producer's block
 *     is used as it is, every other one is cut or gathered from producer
 *     blocks, which moves all of its elements. Per dimension, the
 *     producer's and the consumer's intervals that coincide cover some
 *     length; blocks that coincide in every dimension cover the product
 *     of those lengths, and the edge costs |T| minus that product. Inputs
 *     are read in whatever blocks their readers want and cost no edge.
 * On MPI ranks (DecompOptions.ranks) every rank reads the inputs its
 * tasks want from their files, so replicating an input costs nothing;
 * and a split reduction's partials count twice, since they travel to
 * the rank that sums them and the sum travels on to the ranks that read
 * it, where an output cut's blocks travel once. W1 (D = A (B C)) on 2
 * ranks: B C was cut along its reduction (k:2), which moved 4.2 MB to a
 * rank against a lower bound of 2.1 MB; now along its rows (j:2), 2.1 MB.
 * Ties on ranks go to result blocks that are each one stretch of the
 * layout: a block of columns travels as a strided message and its GEMM
 * writes strided rows (W6, Z[b, i, k] on 2 ranks: cut k:2, 129 ms; cut
 * b:2, 86 ms; 76 ms on 2 threads; make bench).
 *
 * Candidates are the vectors with at most 'size' blocks per index whose
 * product is n, 2n or 4n for n devices (any factors, not only powers of
 * two; only powers of two when that gives too many). Failing that (a
 * prime n larger than every index), any product from n to 4n; and a node
 * too small for n blocks gets its largest splits instead.
 *
 * Ties between candidates of a contraction go to the one that cuts the
 * fewest indices inside the runs that its BLAS calls keep (gemm.c,
 * gemm_runs_cut): a run cut in a block is looped over in smaller calls.
 * Then to the one that cuts the fewest of the calls' M, N and K indices
 * (gemm_dims_cut): a batch index cut instead leaves each call whole and
 * makes fewer of them. With 2 threads, the shared-weight product Y[n, o,
 * p] = W[o, k] X[n, k, p] took 17.0 ms cut n:2 against 17.8 cut p:2, and
 * the middle-axis T2[i, j, r] = C[q, j] T1[i, q, r] 14.0 ms cut i:2
 * against 16.8 cut r:2 (medians of 6 interleaved rounds). The two
 * tie-breaks add under half an element to the node's cost.
 *
 * Short runs. A loop kernel (not a GEMM, which packs its operands) that
 * reads an operand in blocks cut along its last, contiguous dimension
 * reads runs shorter than the rows: where a run is shorter than
 * DECOMP_RUN_BYTES (two pages) and than the row, the read costs as if
 * every run were that long. Measured with 2 threads: the column sum of an
 * 8192x1024 f32 matrix cut into two column blocks (runs of 2 KiB) takes
 * 2.0-3.2 ms, into two row blocks 0.9-1.0 ms; tanh of 2048x2048 in two
 * column blocks (4 KiB runs) 2.9 ms, in two row blocks 2.2 ms; with runs
 * of 8 KiB and more (column sums of 2048x4096 to 512x16384) the two cuts
 * were alike.
 *
 * Search. Reverse the DAG: a node read by exactly one einsum hangs below
 * that reader, so the graph falls into trees whose roots are the nodes
 * read by several einsums (cut nodes) or by none (outputs). Given the
 * partitions of the cut nodes, a bottom-up dynamic program over each tree
 * (own cost plus, per child, its best subtree plus the edge) is exact.
 * When the cut nodes' joint choices are few enough, every combination is
 * tried, so the result is the optimum of the cost model; otherwise the
 * cut nodes are fixed in topological order, each tree minimised given the
 * trees before it (EinDecomp's order). Graphs over DECOMP_MAX_DP_NODES
 * nodes, or with too many candidates, are searched greedily in
 * topological order: each node takes the candidate cheapest given its
 * producers' choices.
 */
#include "tra.h"

#include <stdlib.h>
#include <string.h>

enum {
	DECOMP_MAX_DP_NODES = 64,      /* more einsums: greedy search */
	DECOMP_MAX_CANDIDATES = 2048,  /* per node, before keeping powers of two */
	DECOMP_MAX_TOTAL_CAND = 20000, /* over the graph: greedy search beyond */
};
#define DECOMP_EXACT_BUDGET 2e7 /* DP work for trying every cut-node choice */
#define DECOMP_RUN_BYTES 8192.0  /* a shorter contiguous run costs one this long */

/* The search's state; arrays are indexed by node id. */
typedef struct Decomp {
	TraGraph *g;     /* the graph; its arena holds the tables below */
	int *ncand;      /* candidates per node (0 for inputs) */
	int **cand;      /* ncand vectors of nidx counts */
	double **ncost;  /* ncost[v][c]: decomp_node_cost of candidate c */
	int *nreaders;   /* distinct einsums reading the node */
	int *parent;     /* the one reader of a tree node; -1 for roots */
	int *root;       /* the root of the tree the node is in */
	double **best;   /* best[v][c]: v's subtree with v at candidate c */
	int **pick;      /* pick[v][c]: v's candidate when its parent has c */
	double **edge;   /* edge[v][cv * ncand[parent] + c]: edges from v into its parent */
	int *chosen;     /* the candidate each node takes */
} Decomp;

int64_t decomp_block_lo(int64_t size, int n, int b)
{
	return (int64_t)((__int128)size * b / n);
}

/* ---- the cost model ------------------------------------------------------------ */

/* The blocks of n's partition part along the index operand op reads in
 * its dimension d. A view's affine read counts the blocks of the index
 * it reads there (tra.h; its halo is not counted), a constant one as 1. */
static int decomp_operand_part(const TraOperand *op, int d, const int *part)
{
	return op->idx[d] < 0 ? 1 : part[op->idx[d]];
}

/* Distinct blocks of operand k under partition part (an index read twice counts once). */
static double decomp_operand_blocks(const TraNode *n, int k, const int *part)
{
	const TraOperand *op = &n->ops[k];
	double b = 1;
	for (int d = 0; d < op->rank; d++) {
		bool seen = false;
		for (int e = 0; e < d; e++)
			seen |= op->idx[e] == op->idx[d];
		if (!seen)
			b *= decomp_operand_part(op, d, part);
	}
	return b;
}

double decomp_node_cost(const TraGraph *g, int id, const int *part)
{
	return decomp_node_cost_in(g, id, part, false);
}

double decomp_node_cost_in(const TraGraph *g, int id, const int *part, bool ranks)
{
	const TraNode *n = &g->nodes[id];
	if (n->kind == TRA_NODE_INPUT)
		return 0;
	double p = 1, pout = 1, cost = 0;
	for (int d = 0; d < n->nidx; d++) {
		p *= part[d];
		if (d < n->rank)
			pout *= part[d];
	}
	for (int k = 0; k < n->nops; k++)
		if (!ranks || g->nodes[n->ops[k].node].kind != TRA_NODE_INPUT)
			cost += (double)tra_node_elements(&g->nodes[n->ops[k].node]) * p /
			        decomp_operand_blocks(n, k, part);
	if (n->agg != TRA_AGG_NONE)
		cost += (ranks ? 2 : 1) * (double)tra_node_elements(n) / pout * (p - pout);
	return cost;
}

/* The extra elements a loop kernel reads under partition part because
 * its operands' blocks are cut along their last dimension into runs
 * shorter than a page and than the row (see Short runs above). */
static double decomp_short_runs(const TraGraph *g, int id, const int *part)
{
	const TraNode *n = &g->nodes[id];
	double p = 1, extra = 0;
	for (int d = 0; d < n->nidx; d++)
		p *= part[d];
	for (int k = 0; k < n->nops; k++) {
		const TraNode *in = &g->nodes[n->ops[k].node];
		const TraOperand *op = &n->ops[k];
		if (op->rank == 0 || decomp_operand_part(op, op->rank - 1, part) == 1)
			continue;
		double esize = (double)trart_dtype_size(in->type);
		double row = (double)n->idx[op->idx[op->rank - 1]].size * esize;
		double run = row / part[op->idx[op->rank - 1]];
		double unit = row < DECOMP_RUN_BYTES ? row : DECOMP_RUN_BYTES;
		if (run < unit)
			extra += (double)tra_node_elements(in) * p / decomp_operand_blocks(n, k, part) *
			         (unit / run - 1);
	}
	return extra;
}

/* Length of [0, size) covered by intervals that a split into a blocks and
 * a split into b blocks share exactly. */
static double decomp_shared_length(int64_t size, int a, int b)
{
	if (a == b)
		return (double)size;
	double len = 0;
	int i = 0, j = 0;
	while (i < a && j < b) {
		int64_t alo = decomp_block_lo(size, a, i), ahi = decomp_block_lo(size, a, i + 1);
		int64_t blo = decomp_block_lo(size, b, j), bhi = decomp_block_lo(size, b, j + 1);
		if (alo == blo && ahi == bhi)
			len += (double)(ahi - alo);
		if (ahi <= bhi)
			i++;
		else
			j++;
	}
	return len;
}

double decomp_edge_cost(const TraGraph *g, int c, int k, const int *ppart, const int *cpart)
{
	const TraNode *n = &g->nodes[c];
	const TraNode *p = &g->nodes[n->ops[k].node];
	if (p->kind == TRA_NODE_INPUT)
		return 0;
	double shared = 1;
	for (int d = 0; d < p->rank; d++)
		shared *= decomp_shared_length(p->idx[d].size, ppart[d],
		                               decomp_operand_part(&n->ops[k], d, cpart));
	return (double)tra_node_elements(p) - shared;
}

double decomp_graph_cost(const TraGraph *g)
{
	double cost = 0;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind == TRA_NODE_INPUT)
			continue;
		cost += decomp_node_cost(g, id, n->part);
		for (int k = 0; k < n->nops; k++)
			cost += decomp_edge_cost(g, id, k, g->nodes[n->ops[k].node].part, n->part);
	}
	return cost;
}

/* ---- candidates ------------------------------------------------------------------ */

/* A growing list of candidate vectors. */
typedef struct CandList {
	int nidx;      /* counts per vector */
	int *v;        /* n vectors, malloc'ed */
	int n, cap;    /* vectors used, allocated */
	bool pow2;     /* keep only powers of two */
	int64_t lo, hi;/* accepted products: n, 2n, 4n when lo == 0, else [lo, hi] */
	int64_t want[3];/* n, 2n, 4n */
	int lead;      /* DecompOptions.stretches: the one result index cut, or -1: any */
} CandList;

static bool decomp_accept(const CandList *l, int64_t prod)
{
	if (l->lo)
		return prod >= l->lo && prod <= l->hi;
	return prod == l->want[0] || prod == l->want[1] || prod == l->want[2];
}

/* Enumerates counts for indices d.. of n with the product so far prod. */
/* Recursive; depth one per index of the node, at most TRA_MAX_STMT_INDICES. */
static void decomp_enumerate(const TraNode *n, CandList *l, int *cur, int d, int64_t prod, int64_t limit)
{
	if (d == n->nidx) {
		if (!decomp_accept(l, prod))
			return;
		if (l->n == l->cap)
			l->v = xrealloc(l->v, (size_t)(l->cap = l->cap ? 2 * l->cap : 64) * (size_t)(l->nidx + 1) * sizeof *l->v);
		memcpy(l->v + (size_t)l->n++ * (size_t)l->nidx, cur, (size_t)l->nidx * sizeof *cur);
		return;
	}
	/* argmax's and argmin's index is never split: partial results would
	 * need their values as well as their indices to combine; a scatter-add
	 * is one task (its blocks would each read all of its operands) */
	int64_t most = (TRA_AGG_IS_ARG(n->agg) && d >= n->rank) || tra_node_is_scatter(n) ? 1 : n->idx[d].size;
	if (l->lead >= 0 && d < n->rank && d != l->lead)
		most = 1;
	for (int64_t c = 1; c <= most && prod * c <= limit; c = l->pow2 ? 2 * c : c + 1) {
		cur[d] = (int)c;
		decomp_enumerate(n, l, cur, d + 1, prod * c, limit);
	}
}

static void decomp_list(const TraNode *n, CandList *l, int64_t limit)
{
	int *cur = xmalloc((size_t)(n->nidx + 1) * sizeof *cur);
	l->n = 0;
	decomp_enumerate(n, l, cur, 0, 1, limit);
	free(cur);
}

/* Keeps only the vectors of l with the largest product. */
static void decomp_keep_largest(CandList *l)
{
	int64_t best = 0;
	int m = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < l->n; i++) {
			int64_t p = 1;
			for (int d = 0; d < l->nidx; d++)
				p *= l->v[(size_t)i * (size_t)l->nidx + (size_t)d];
			if (pass == 0 && p > best)
				best = p;
			else if (pass == 1 && p == best)
				memmove(l->v + (size_t)m++ * (size_t)l->nidx, l->v + (size_t)i * (size_t)l->nidx,
				        (size_t)l->nidx * sizeof *l->v);
		}
	l->n = m;
}

int decomp_candidates(const TraGraph *g, int id, int devices, int **out)
{
	return decomp_candidates_in(g, id, devices, false, out);
}

int decomp_candidates_in(const TraGraph *g, int id, int devices, bool stretches, int **out)
{
	const TraNode *n = &g->nodes[id];
	int64_t nd = devices;
	CandList l = {.nidx = n->nidx, .want = {nd, 2 * nd, 4 * nd}, .lead = -1};
	for (int d = 0; stretches && d < n->rank && l.lead < 0; d++)
		if (n->idx[d].size > 1)
			l.lead = d;
	if (stretches && l.lead < 0)
		l.lead = n->rank; /* no result index to cut (a scalar, or all of size 1) */
	decomp_list(n, &l, 4 * nd);
	if (l.n > DECOMP_MAX_CANDIDATES) {
		l.pow2 = true;
		decomp_list(n, &l, 4 * nd);
	}
	if (l.n == 0) { /* no product n, 2n, 4n: any from n to 4n */
		l.lo = nd;
		l.hi = 4 * nd;
		decomp_list(n, &l, l.hi);
	}
	if (l.n == 0) { /* too small for n blocks: split as far as it goes */
		l.lo = 1;
		l.hi = nd;
		decomp_list(n, &l, l.hi);
		decomp_keep_largest(&l);
	}
	if (l.n > DECOMP_MAX_CANDIDATES)
		l.n = DECOMP_MAX_CANDIDATES;
	size_t bytes = (size_t)l.n * (size_t)(n->nidx ? n->nidx : 1) * sizeof **out;
	*out = arena_alloc(g->arena, bytes);
	if (l.n)
		memcpy(*out, l.v, (size_t)l.n * (size_t)n->nidx * sizeof **out);
	free(l.v);
	return l.n; /* at least one: the fallback accepts the largest split */
}

/* ---- the search ------------------------------------------------------------------- */

static int *decomp_cand(const Decomp *s, int v, int c)
{
	return s->cand[v] + (size_t)c * (size_t)s->g->nodes[v].nidx;
}

/* The cost of every edge from producer p (at candidate cp) into v (at cv). */
static double decomp_edges_from(const Decomp *s, int p, int cp, int v, int cv)
{
	const TraNode *n = &s->g->nodes[v];
	double cost = 0;
	for (int k = 0; k < n->nops; k++)
		if (n->ops[k].node == p)
			cost += decomp_edge_cost(s->g, v, k, decomp_cand(s, p, cp), decomp_cand(s, v, cv));
	return cost;
}

/* Whether p already appears among v's operands before operand k. */
static bool decomp_seen_before(const TraNode *n, int k)
{
	for (int j = 0; j < k; j++)
		if (n->ops[j].node == n->ops[k].node)
			return true;
	return false;
}

/* best[v][c] for every c, given the choices of roots feeding v and the
 * best values of v's children (computed before: they have smaller ids). */
static void decomp_dp_node(Decomp *s, int v)
{
	const TraNode *n = &s->g->nodes[v];
	for (int c = 0; c < s->ncand[v]; c++) {
		double cost = s->ncost[v][c];
		for (int k = 0; k < n->nops; k++) {
			int p = n->ops[k].node;
			if (s->ncand[p] == 0 || decomp_seen_before(n, k))
				continue;
			if (s->parent[p] != v) {
				cost += decomp_edges_from(s, p, s->chosen[p], v, c);
				continue;
			}
			double bp = -1;
			for (int cp = 0; cp < s->ncand[p]; cp++) {
				double x = s->best[p][cp] + s->edge[p][(size_t)cp * (size_t)s->ncand[v] + (size_t)c];
				if (bp < 0 || x < bp) {
					bp = x;
					s->pick[p][c] = cp;
				}
			}
			cost += bp;
		}
		s->best[v][c] = cost;
	}
}

/* The tree of root r: chooses r's best candidate if free (when r is a
 * cut node being enumerated, it stays), then its subtree. Returns cost. */
static double decomp_tree(Decomp *s, int r, bool free_root)
{
	for (int v = 0; v <= r; v++)
		if (s->ncand[v] && s->root[v] == r)
			decomp_dp_node(s, v);
	if (free_root)
		for (int c = 0; c < s->ncand[r]; c++)
			if (s->best[r][c] < s->best[r][s->chosen[r]])
				s->chosen[r] = c;
	for (int v = r - 1; v >= 0; v--)
		if (s->ncand[v] && s->parent[v] >= 0 && s->root[v] == r)
			s->chosen[v] = s->pick[v][s->chosen[s->parent[v]]];
	return s->best[r][s->chosen[r]];
}

/* All trees in topological order of their roots, given the cut nodes'
 * current choices (or choosing them in turn when free_cuts). */
static double decomp_forest(Decomp *s, bool free_cuts)
{
	double cost = 0;
	for (int r = 0; r < s->g->nnodes; r++)
		if (s->ncand[r] && s->parent[r] < 0) {
			bool cut = s->nreaders[r] >= 2;
			if (!cut || free_cuts)
				s->chosen[r] = 0;
			cost += decomp_tree(s, r, !cut || free_cuts);
		}
	return cost;
}

/* Work of one decomp_forest: candidates times candidates along tree edges. */
static double decomp_forest_work(const Decomp *s)
{
	double w = 0;
	for (int v = 0; v < s->g->nnodes; v++)
		for (int k = 0; k < s->g->nodes[v].nops; k++)
			w += (double)s->ncand[v] * (s->ncand[s->g->nodes[v].ops[k].node] + 1);
	return w;
}

/* Tries every combination of the cut nodes' candidates; keeps the best. */
static void decomp_exact(Decomp *s, const int *cuts, int ncuts)
{
	int nn = s->g->nnodes;
	int *best = xmalloc((size_t)nn * sizeof *best);
	double best_cost = -1;
	for (int i = 0; i < ncuts; i++)
		s->chosen[cuts[i]] = 0;
	for (;;) {
		double cost = decomp_forest(s, false);
		if (best_cost < 0 || cost < best_cost) {
			best_cost = cost;
			memcpy(best, s->chosen, (size_t)nn * sizeof *best);
		}
		int i = 0;
		while (i < ncuts && ++s->chosen[cuts[i]] == s->ncand[cuts[i]])
			s->chosen[cuts[i++]] = 0;
		if (i == ncuts)
			break;
	}
	memcpy(s->chosen, best, (size_t)nn * sizeof *best);
	free(best);
}

/* The dynamic program over trees. */
static void decomp_dp(Decomp *s)
{
	int nn = s->g->nnodes, ncuts = 0;
	int *cuts = xmalloc((size_t)nn * sizeof *cuts + 1);
	double combos = 1;
	for (int v = 0; v < nn; v++)
		if (s->ncand[v] && s->nreaders[v] >= 2) {
			cuts[ncuts++] = v;
			combos *= s->ncand[v];
		}
	if (combos * decomp_forest_work(s) <= DECOMP_EXACT_BUDGET)
		decomp_exact(s, cuts, ncuts);
	else
		decomp_forest(s, true);
	free(cuts);
}

/* Each node, in topological order, takes its cheapest candidate given its
 * producers' choices. */
static void decomp_greedy(Decomp *s)
{
	for (int v = 0; v < s->g->nnodes; v++) {
		const TraNode *n = &s->g->nodes[v];
		double best = -1;
		for (int c = 0; c < s->ncand[v]; c++) {
			double cost = s->ncost[v][c];
			for (int k = 0; k < n->nops; k++)
				if (s->ncand[n->ops[k].node])
					cost += decomp_edge_cost(s->g, v, k, decomp_cand(s, n->ops[k].node, s->chosen[n->ops[k].node]),
					                         decomp_cand(s, v, c));
			if (best < 0 || cost < best) {
				best = cost;
				s->chosen[v] = c;
			}
		}
	}
}

/* Readers and tree parents: a node with exactly one distinct einsum
 * reader hangs below it. */
static void decomp_trees(Decomp *s)
{
	const TraGraph *g = s->g;
	int *last = xmalloc((size_t)g->nnodes * sizeof *last + 1);
	for (int v = 0; v < g->nnodes; v++)
		last[v] = -1;
	for (int v = 0; v < g->nnodes; v++)
		for (int k = 0; k < g->nodes[v].nops; k++) {
			int p = g->nodes[v].ops[k].node;
			if (last[p] != v)
				s->nreaders[p]++;
			last[p] = v;
		}
	for (int v = 0; v < g->nnodes; v++)
		s->parent[v] = s->ncand[v] && s->nreaders[v] == 1 ? last[v] : -1;
	for (int v = g->nnodes - 1; v >= 0; v--) /* parents come after their children */
		s->root[v] = s->parent[v] >= 0 ? s->root[s->parent[v]] : v;
	free(last);
}

/* One all-ones vector for node v. */
static int *decomp_ones(TraGraph *g, int v)
{
	int *p = arena_alloc(g->arena, (size_t)(g->nodes[v].nidx + 1) * sizeof *p);
	for (int d = 0; d < g->nodes[v].nidx; d++)
		p[d] = 1;
	return p;
}

/* Whether partition part cuts n's result into blocks that are each one
 * stretch of its layout: every index after the first that a block spans
 * more than one element of is whole. */
static bool decomp_stretch_blocks(const TraNode *n, const int *part)
{
	bool wide = false;
	for (int d = 0; d < n->rank; d++) {
		if (wide && part[d] > 1)
			return false;
		wide |= n->idx[d].size / part[d] > 1;
	}
	return true;
}

/* Candidates and their costs for every einsum; returns their total. */
static int decomp_setup(Decomp *s, const DecompOptions *opt)
{
	TraGraph *g = s->g;
	int total = 0;
	for (int v = 0; v < g->nnodes; v++) {
		if (g->nodes[v].kind == TRA_NODE_INPUT)
			continue;
		if (opt->fixed && opt->fixed[v]) {
			s->cand[v] = opt->fixed[v];
			s->ncand[v] = 1;
		} else if (opt->none) {
			s->cand[v] = decomp_ones(g, v);
			s->ncand[v] = 1;
		} else {
			s->ncand[v] = decomp_candidates_in(g, v, opt->devices, opt->stretches, &s->cand[v]);
		}
		s->ncost[v] = arena_alloc(g->arena, (size_t)s->ncand[v] * sizeof(double));
		s->best[v] = arena_alloc(g->arena, (size_t)s->ncand[v] * sizeof(double));
		GemmPlan plan;
		bool gemm = s->ncand[v] > 1 && gemm_plan(g, &g->nodes[v], GEMM_NODE, &plan);
		for (int c = 0; c < s->ncand[v]; c++) {
			s->ncost[v][c] = decomp_node_cost_in(g, v, decomp_cand(s, v, c), opt->ranks);
			if (gemm) /* tie-breaks: under half an element in all */
				s->ncost[v][c] += (0.4 * gemm_runs_cut(&plan, decomp_cand(s, v, c)) +
				                   0.05 * gemm_dims_cut(&plan, decomp_cand(s, v, c))) / g->nodes[v].nidx;
			else
				s->ncost[v][c] += decomp_short_runs(g, v, decomp_cand(s, v, c));
			if (opt->ranks && !decomp_stretch_blocks(&g->nodes[v], decomp_cand(s, v, c)))
				s->ncost[v][c] += 0.05; /* a tie-break (see On MPI ranks above) */
		}
		total += s->ncand[v];
	}
	return total;
}

/* pick[v] is indexed by the parent's candidates; edge[v] holds the
 * costs of the edges into the parent, computed once for every search. */
static void decomp_alloc_picks(Decomp *s)
{
	for (int v = 0; v < s->g->nnodes; v++) {
		int up = s->parent[v];
		if (up < 0)
			continue;
		s->pick[v] = arena_alloc(s->g->arena, (size_t)s->ncand[up] * sizeof(int));
		s->edge[v] = arena_alloc(s->g->arena, (size_t)s->ncand[v] * (size_t)s->ncand[up] * sizeof(double));
		for (int cv = 0; cv < s->ncand[v]; cv++)
			for (int c = 0; c < s->ncand[up]; c++)
				s->edge[v][(size_t)cv * (size_t)s->ncand[up] + (size_t)c] = decomp_edges_from(s, v, cv, up, c);
	}
}

double decomp_run(TraGraph *g, const DecompOptions *opt)
{
	int nn = g->nnodes;
	TRAC_ASSERT(opt->devices >= 1);
	Decomp s = {.g = g};
	s.ncand = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.ncand);
	s.nreaders = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.nreaders);
	s.parent = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.parent);
	s.root = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.root);
	s.chosen = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.chosen);
	s.cand = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.cand);
	s.ncost = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.ncost);
	s.best = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.best);
	s.pick = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.pick);
	s.edge = arena_alloc(g->arena, (size_t)(nn + 1) * sizeof *s.edge);
	int total = decomp_setup(&s, opt);
	decomp_trees(&s);
	decomp_alloc_picks(&s);
	if (opt->greedy || nn > DECOMP_MAX_DP_NODES || total > DECOMP_MAX_TOTAL_CAND)
		decomp_greedy(&s);
	else
		decomp_dp(&s);
	for (int v = 0; v < nn; v++)
		g->nodes[v].part = s.ncand[v] ? decomp_cand(&s, v, s.chosen[v]) : NULL;
	return decomp_graph_cost(g);
}

/* ---- manual partitions ---------------------------------------------------------- */

/* Parses "i=4" at *s into part; advances *s past it. */
static bool decomp_parse_one(const TraNode *n, const char **s, int *part, bool *seen, char *err,
                             size_t errlen)
{
	const char *eq = strchr(*s, '='), *comma = strchr(*s, ',');
	if (!comma)
		comma = *s + strlen(*s);
	if (!eq || eq > comma) {
		snprintf(err, errlen, "expected INDEX=COUNT, not '%.*s'", (int)(comma - *s), *s);
		return false;
	}
	int d = 0;
	while (d < n->nidx && (strncmp(n->idx[d].name, *s, (size_t)(eq - *s)) != 0 ||
	                       n->idx[d].name[eq - *s] != '\0'))
		d++;
	if (d == n->nidx) {
		snprintf(err, errlen, "node %s has no index '%.*s'", n->name, (int)(eq - *s), *s);
		return false;
	}
	char *end;
	long v = strtol(eq + 1, &end, 10);
	long most = n->idx[d].size < DECOMP_MAX_COUNT ? (long)n->idx[d].size : DECOMP_MAX_COUNT;
	if (end != comma || eq + 1 == comma || v < 1 || v > most) {
		snprintf(err, errlen, "%s of node %s: the count must be from 1 to %ld%s, not '%.*s'",
		         n->idx[d].name, n->name, most,
		         most == DECOMP_MAX_COUNT ? " (the most blocks along one index)" : "",
		         (int)(comma - eq - 1), eq + 1);
		return false;
	}
	if (seen[d]) {
		snprintf(err, errlen, "index %s of node %s is given twice", n->idx[d].name, n->name);
		return false;
	}
	seen[d] = true;
	part[d] = (int)v;
	*s = *comma ? comma + 1 : comma;
	if (*comma && !**s) {
		snprintf(err, errlen, "a trailing comma: expected INDEX=COUNT after it");
		return false;
	}
	return true;
}

void decomp_pin_manual(TraGraph *g, const char *spec)
{
	const char *colon = strrchr(spec, ':');
	for (int id = 0; colon && id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		if (n->kind == TRA_NODE_EINSUM && strncmp(n->name, spec, (size_t)(colon - spec)) == 0 &&
		    n->name[colon - spec] == '\0')
			n->pinned = true;
	}
}

bool decomp_parse_manual(const TraGraph *g, const char *spec, int *node, int *part,
                         char *err, size_t errlen)
{
	const char *colon = strrchr(spec, ':');
	if (!colon) {
		snprintf(err, errlen, "expected auto, none or NODE:INDEX=COUNT,..., not '%s'", spec);
		return false;
	}
	*node = -1;
	for (int id = 0; id < g->nnodes; id++)
		if (strncmp(g->nodes[id].name, spec, (size_t)(colon - spec)) == 0 &&
		    g->nodes[id].name[colon - spec] == '\0')
			*node = id;
	if (*node < 0 || g->nodes[*node].kind == TRA_NODE_INPUT) {
		snprintf(err, errlen, "the program has no einsum node '%.*s' (see --emit=tra)",
		         (int)(colon - spec), spec);
		return false;
	}
	const TraNode *n = &g->nodes[*node];
	if (!colon[1]) {
		snprintf(err, errlen, "no counts after '%.*s:'; expected INDEX=COUNT,...", (int)(colon - spec), spec);
		return false;
	}
	bool seen[TRA_MAX_STMT_INDICES] = {false};
	for (int d = 0; d < n->nidx; d++)
		part[d] = 1;
	for (const char *s = colon + 1; *s;)
		if (!decomp_parse_one(n, &s, part, seen, err, errlen))
			return false;
	if (TRA_AGG_IS_ARG(n->agg) && part[n->rank] > 1) {
		snprintf(err, errlen, "node %s is an %s: its index %s cannot be split", n->name,
		         tra_agg_name(n->agg), n->idx[n->rank].name);
		return false;
	}
	for (int d = 0; tra_node_is_scatter(n) && d < n->nidx; d++)
		if (part[d] > 1) {
			snprintf(err, errlen, "node %s is a scatter-add (a gather's gradient): it is not split",
			         n->name);
			return false;
		}
	int64_t blocks = 1;
	for (int d = 0; d < n->nidx; d++)
		blocks *= part[d]; /* each at most DECOMP_MAX_COUNT: no overflow until > 2^64 */
	if (blocks > DECOMP_MAX_BLOCKS) {
		snprintf(err, errlen, "node %s would have %lld blocks; at most %d are allowed", n->name,
		         (long long)blocks, DECOMP_MAX_BLOCKS);
		return false;
	}
	return true;
}
