/* needs: a verified TraGraph after the passes (for block kernels, its placed IaGraph). gives: KplanProgram, what every kernel runs. */
/* kplan.c: kernel plans, decided once for every back end.
 *
 * Every einsum node becomes one of two shapes, decided here and only
 * rendered by the back ends (codegen/c.c prints C):
 *
 *   - BLAS. A sum over the product of two operands whose indices fall
 *     into batch, M, N and K groups becomes cblas gemm (or gemv) calls
 *     as compiler/gemm.c plans them (the cost rule is stated there). The
 *     epilogue (bias, scale, activation) then runs in one pass over the
 *     output; a whole-node GEMM whose rows are its first index, all of M,
 *     with nothing looped, runs in panels of KPLAN_PANEL rows, each
 *     panel's epilogue right after it while the panel is in cache.
 *     A block kernel's calls of TRART_STRASSEN_MIN or more on every side
 *     go through the runtime's Strassen-Winograd GEMM (kplan_strassen).
 *   - Loops. Anything else is a loop nest (KplanNest): output indices
 *     outside (the first split across threads, or cut by the block
 *     tasks' ranges), the join, aggregation and epilogue fused in one
 *     pass. The rules that keep it vectorised, whatever the layout:
 *       * Rows. Loop kernels that share their first output index run
 *         as a row group (KPLAN_ROWS), chunk of rows by chunk of rows
 *         (one row when a member's rows are long, up to
 *         KPLAN_ROW_CHUNK_ELEMENTS join points when they are short), so
 *         a producer's rows are in cache for its consumers and a group
 *         of vector maps is still one vector loop per member. Block
 *         tasks on CPUs also take a GEMV's rows and one sum over the
 *         rows into partial blocks (the row groups section says how).
 *       * Contiguous reductions (KPLAN_RED_SIMD): reduced indices inside,
 *         the innermost the one that walks the largest operand
 *         contiguously, as a simd reduction (the language lets
 *         reductions be reassociated).
 *       * Strided reductions (KPLAN_RED_COLUMNS): when the last output
 *         index walks the largest operand more contiguously than every
 *         reduced index (a column sum s[j] = sum[i](X[i, j])), the
 *         reduction keeps a tile of KPLAN_COLUMN_TILE partial results
 *         and walks the reduced indices outside a vector loop over the
 *         tile: X is read row by row, at memory bandwidth. Last indices
 *         shorter than KPLAN_COLUMN_MIN keep the plain nest, where a
 *         vector of a few lanes would not pay. A sum of fewer than
 *         KPLAN_COLUMN_MIN terms along an index as contiguous as the
 *         last output index (a convolution's window) runs in such a tile
 *         too (kplan_columnwise says why).
 *       * Long sums (more than KPLAN_SUM_BLOCK terms) are blocked: vector
 *         loops sum blocks of KPLAN_SUM_BLOCK terms, and the blocks are
 *         summed pairwise (a binary counter of partial sums), so the
 *         error grows with the log of the length as NumPy's pairwise
 *         sum's does; a column sum adds its tile into two levels of
 *         KPLAN_COLUMN_BLOCK blocks instead.
 *       * Arg reductions (KPLAN_RED_ARG: argmax, argmin) of at least
 *         KPLAN_ARG_MIN_TERMS terms run in KPLAN_ARG_LANES lanes on CPUs
 *         (KplanNest.arg_lanes): lane l keeps the best value at positions
 *         l, l + lanes, ... and where it was first seen, a vector loop over
 *         the lanes; the lanes then combine as a tree, half against
 *         half, into the best value at its smallest position (a NaN
 *         first, at its smallest, as NumPy's argmax; the order on (value,
 *         position) is total, so the tree gives what the lanes in order
 *         gave, at log2(lanes) vector steps rather than a lane at a
 *         time), and the terms left over after the last whole group of
 *         lanes follow in order. One scalar loop carries the best from
 *         each term to the next, a compare and two selects a term in
 *         turn: a row argmax over 4096 x 4096 f32 took 45 ms as one loop,
 *         2.9-3.1 in lanes (LLVM; 3.0-3.4 through gcc), NumPy's 2.6-3.3.
 *         Longer rows of a 4-byte type run in 32 lanes, then 64
 *         (kplan_arg_lanes says when and why): the same argmax took
 *         1.1-1.5 ms in 64 lanes combined as a tree. The LLVM back end
 *         builds the lanes as two vectors the loop over the groups
 *         carries (cg_llvm_arg_lanes; as a loop over the lanes it took
 *         4.5-5.1 ms); the C back end's tests are & and |, not && and ||,
 *         which gcc turned into masked loads (5.2-6.2 ms), and its tree
 *         is a loop a level with the count written out. GPU threads keep
 *         the scalar loop.
 *       * Transposes: a block map whose largest operand is strided along
 *         the vector loop and contiguous along an outer output index runs
 *         the two in tiles (KplanNest.tile; kplan_transpose says why).
 *       * Short rows: a block map whose last indices are short and laid
 *         out alike in the output and every operand runs them as one
 *         loop over the block's contiguous range (KplanNest.flat;
 *         kplan_flatten says when).
 *       * Deferred epilogues: a row reduction's costly epilogue runs in
 *         a vector loop over a range of rows after their sums
 *         (KplanNest.deferred; kplan_plan_deferred says when).
 *
 * Block kernels (a placed task graph) plan the same nests over a block's
 * ranges; a node's GEMM is planned for blocks (GEMM_BLOCKS: no copy of
 * the result), a join whose reduced indices some task cuts leaves partial
 * results that the node's KPLAN_AGG kernel combines, and a row group
 * whose blocks ia_fuse_rows fused is one KPLAN_ROWS kernel per row block.
 * Input leaves and repartitions are one KPLAN_NOP kernel: CPU workers
 * share memory, so they only order.
 */
#include "kplan.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- loop nests ------------------------------------------------------------ */

/* The largest operand: its contiguous index should be innermost. */
static int kplan_largest_operand(const TraGraph *g, const TraNode *n)
{
	int best = -1;
	int64_t size = -1;
	for (int k = 0; k < n->nops; k++) {
		int64_t e = tra_node_elements(&g->nodes[n->ops[k].node]);
		if (e > size) {
			size = e;
			best = k;
		}
	}
	return best;
}

/* The reduced indices in loop order: decreasing stride in the largest
 * operand, so that its contiguous index is innermost. */
static int kplan_reduce_order(const TraGraph *g, const TraNode *n, int *order)
{
	int m = 0, big = kplan_largest_operand(g, n);
	for (int x = n->rank; x < n->nidx; x++)
		order[m++] = x;
	for (int i = 1; i < m; i++)
		for (int j = i; j > 0; j--) {
			int64_t sa = big >= 0 ? tra_operand_stride(g, n, big, order[j - 1]) : 0;
			int64_t sb = big >= 0 ? tra_operand_stride(g, n, big, order[j]) : 0;
			if (sa >= sb)
				break;
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	return m;
}

/* The number of terms of n's reduction. */
static int64_t kplan_terms(const TraNode *n)
{
	int64_t t = 1;
	for (int x = n->rank; x < n->nidx; x++)
		t *= n->idx[x].size;
	return t;
}

/* The strides of n's largest operand along its last output index (0 if
 * it does not walk it), in *last, and the smallest along a reduced index
 * that walks it (INT64_MAX if none), in *reduced. */
static void kplan_strides(const TraGraph *g, const TraNode *n, int64_t *last, int64_t *reduced)
{
	int big = kplan_largest_operand(g, n);
	*last = n->rank > 0 && big >= 0 ? tra_operand_stride(g, n, big, n->rank - 1) : 0;
	*reduced = INT64_MAX;
	for (int x = n->rank; big >= 0 && x < n->nidx; x++) {
		int64_t sx = tra_operand_stride(g, n, big, x);
		if (sx != 0 && sx < *reduced)
			*reduced = sx;
	}
}

/* Whether n's last output index walks the largest operand more
 * contiguously than every reduced index. */
static bool kplan_last_walks(const TraGraph *g, const TraNode *n)
{
	int64_t last, reduced;
	kplan_strides(g, n, &last, &reduced);
	return last != 0 && last < reduced;
}

/* Whether n reduces along strided indices while its last output index
 * walks the largest operand more contiguously (a column sum), or sums
 * fewer terms than a vector has lanes along an index that walks it as
 * contiguously as the last output index: a 9-tap convolution y[i] =
 * sum[k](x[i + k] * w[k]) vectorised along k fills 9 of 16 lanes and
 * adds them across once per output, along i every lane works (over 4M
 * outputs, 2 threads, LLVM: 8.9-9.8 ms as an im2col and a GEMV, 1.9-2.3
 * along i; NumPy's correlate 9.8-10.5). A short sum whose terms are
 * more contiguous than its outputs (a row sum of a few columns, a max
 * pool) stays along its terms: along the outputs, gcc's code was
 * 1.5-14x faster, but LLVM's strided loads there are gathers, no faster
 * or slower, and short row dots would leave their row groups. */
static bool kplan_columnwise(const TraGraph *g, const TraNode *n)
{
	if (n->agg == TRA_AGG_NONE || n->rank == 0 || n->idx[n->rank - 1].size < KPLAN_COLUMN_MIN)
		return false;
	int64_t last, reduced;
	kplan_strides(g, n, &last, &reduced);
	return last != 0 && (last < reduced || (last == reduced && kplan_terms(n) < KPLAN_COLUMN_MIN));
}

/* The identity of an aggregation: the accumulator's first value. */

/* The loops outer to inner: the output indices, the reduced ones inside;
 * a column reduction moves the last output index innermost (the tile). */
static void kplan_loop_order(const TraNode *n, KplanNest *nest)
{
	int m = 0;
	bool columns = nest->reduce == KPLAN_RED_COLUMNS;
	for (int d = 0; d < n->rank - (columns ? 1 : 0); d++)
		nest->order[m++] = d;
	for (int i = 0; i < nest->nred; i++)
		nest->order[m++] = nest->red[i];
	if (columns)
		nest->order[m++] = n->rank - 1;
	nest->norder = m;
}

/* The lanes an argmax or argmin over n's one reduced index runs in on
 * CPUs (the opening comment, arg reductions): none below
 * KPLAN_ARG_MIN_TERMS terms, else KPLAN_ARG_LANES; of a 4-byte type,
 * 32 from KPLAN_ARG_LONG_TERMS and 64 from KPLAN_ARG_WIDE_TERMS. Each
 * vector of lanes is a chain of dependent compares and selects, one
 * step a group; with one vector of f32 lanes that chain, not memory,
 * set the pace (a row argmax over 4096 x 4096 f32 ran at 11.6 GB/s on
 * one thread). More lanes cost their combine at the end of every row
 * (log2(lanes) vector steps, cg_llvm_arg_combine) and a longer tail
 * after the last whole group. Over 16M f32 terms (LLVM, 2 threads,
 * medians of 21): rows of 100 took 3.4-3.6 ms in 16 and 32 lanes, 17 in
 * 64; rows of 1024, 2.7 in 16, 2.0-2.2 in 32, 2.6-3.1 in 64; rows of
 * 2048, 1.7-1.8 in 32, 1.35-1.4 in 64; rows of 4096, 2.5 in 16, 1.5 in
 * 32, 1.05-1.2 in 64. An 8-byte type keeps 16 lanes, two vectors:
 * over 4096 x 4096 f64, 32 lanes took 2.4-2.5 ms against 2.1-2.3, and
 * so did rows of 512 and 2048. */
static int kplan_arg_lanes(const TraNode *n)
{
	int64_t terms = n->idx[n->rank].size;
	if (terms < KPLAN_ARG_MIN_TERMS)
		return 1;
	if (terms < KPLAN_ARG_LONG_TERMS || trart_dtype_size(tra_node_join_type(n)) > 4)
		return KPLAN_ARG_LANES;
	return terms < KPLAN_ARG_WIDE_TERMS ? 2 * KPLAN_ARG_LANES : 4 * KPLAN_ARG_LANES;
}

void kplan_nest(const TraGraph *g, int id, KplanNest *nest)
{
	const TraNode *n = &g->nodes[id];
	memset(nest, 0, sizeof *nest);
	nest->node = id;
	nest->agg = n->agg;
	nest->init = tra_agg_identity(n->agg, n->type);
	/* integers have no NaN, and their sums are exact in any order */
	nest->nan_flag = (n->agg == TRA_AGG_MAX || n->agg == TRA_AGG_MIN) && !TRART_IS_INT(n->type);
	nest->join = n->join;
	nest->epilogue = n->epilogue;
	nest->split = n->rank > 0 ? 0 : -1;
	nest->nred = kplan_reduce_order(g, n, nest->red);
	nest->blocked = n->agg == TRA_AGG_SUM && kplan_terms(n) > KPLAN_SUM_BLOCK && !TRART_IS_INT(n->type);
	nest->sum_block = KPLAN_SUM_BLOCK;
	nest->prefetch = -1;
	nest->column_tile = KPLAN_COLUMN_TILE;
	nest->column_block = KPLAN_COLUMN_BLOCK;
	nest->arg_lanes = 1;
	if (n->agg == TRA_AGG_NONE)
		nest->reduce = KPLAN_RED_NONE;
	else if (TRA_AGG_IS_ARG(n->agg)) {
		nest->reduce = KPLAN_RED_ARG;
		nest->arg_lanes = kplan_arg_lanes(n);
	}
	else
		nest->reduce = kplan_columnwise(g, n) ? KPLAN_RED_COLUMNS : KPLAN_RED_SIMD;
	kplan_loop_order(n, nest);
	/* the vector loop: the innermost reduced one, the tile's, or a map's
	 * last output index */
	if (nest->reduce == KPLAN_RED_SIMD)
		nest->vector = nest->red[nest->nred - 1];
	else if (nest->reduce == KPLAN_RED_ARG)
		nest->vector = -1; /* the lanes' loop, if any, is the vector loop */
	else
		nest->vector = n->rank > 0 ? n->rank - 1 : -1;
}

void kplan_scatter_nest(const TraGraph *g, int id, KplanNest *nest)
{
	const TraNode *n = &g->nodes[id];
	memset(nest, 0, sizeof *nest);
	nest->node = id;
	nest->agg = TRA_AGG_SUM;
	nest->reduce = KPLAN_RED_NONE;
	nest->join = n->join;
	nest->epilogue = -1;
	nest->split = nest->vector = -1;
	for (int x = n->rank; x < n->nidx; x++)
		nest->order[nest->norder++] = nest->red[nest->nred++] = x;
	for (int x = 0; x < n->rank; x++)
		if (tra_node_is_loop(n, x)) {
			if (nest->split < 0)
				nest->split = x;
			nest->order[nest->norder++] = x;
		}
	if (nest->norder > 0 && nest->order[nest->norder - 1] < n->rank)
		nest->vector = nest->order[nest->norder - 1];
	for (int d = 0; d < n->rank; d++) {
		nest->scatter_at[d] = n->scatter[d] < 0 ? -1 : 0;
		const TraOperand *op = n->scatter[d] < 0 ? NULL : &n->ops[n->scatter[d]];
		for (int i = 0; op && i < nest->norder; i++)
			for (int e = 0; e < op->rank; e++)
				if (op->idx[e] == nest->order[i] && n->idx[nest->order[i]].size > 1)
					nest->scatter_at[d] = i + 1;
	}
}

/* ---- row groups -------------------------------------------------------------- *
 *
 * Loop kernels that share their first output index run as a row group,
 * chunk of rows by chunk of rows. Block tasks on CPUs admit two more
 * kinds of member, each reading a whole row of a large operand per row
 * of the group, so that a row block of that operand comes from memory
 * once for all of them. W5's z = X w, r = sigmoid(z) - y, g = X^T r run
 * row by row, X's row in L1 when g reads it: 12.7 ms against 17.7 for a
 * GEMV, the map and a transposed GEMV per row block in turn (LLVM back
 * end, 2 threads, median of 6 rounds' medians; C back end 15.5 and 17.9).
 *   - A row dot: one output index and a sum along the contiguous index
 *     of its largest operand (z[i] = sum[j](X[i, j] * w[j])). BLAS would
 *     run it as a GEMV, which reads the matrix once as its loop nest
 *     does, so the nest costs no more; alone, it stays a GEMV.
 *   - A row reducer: one reduced index, along the group's rows, and its
 *     last output index walking its largest operand more contiguously
 *     (g[j] = sum[i](X[i, j] * r[i]), a column sum's layout), a vector
 *     loop along that index. Each chunk adds its rows into the partial
 *     block of the row block's task, which the group's kernel zeros
 *     first, and the node's KPLAN_AGG kernel combines the blocks' and
 *     applies the epilogue. Its rows are cut into several blocks of at
 *     most KPLAN_ROW_REDUCE_MAX rows, since each element sums its block's
 *     rows in turn (NumPy's pairwise sum adds blocks of 128 so); one per
 *     group, whose context carries its partial block, and no member
 *     reads it. Its group runs KPLAN_REDUCER_JAM rows a chunk, and the
 *     reducer adds a chunk's rows in one pass (Kplan.jam): each element
 *     of the partial block loaded once, the chunk's terms added to it in
 *     row order (through LLVM, the row-by-row sum bit for bit; the C
 *     compiler may reassociate them, as tra(5) allows), stored once.
 *     Row by row, the block's loads and stores bound the group, not X:
 *     in a C micro-benchmark of W5 (2 threads, AVX-512), 16.4 ms row by
 *     row, 12.4 with 4 dots then 4 rows added in turn, 9.4 with 4 rows a
 *     pass, 8.5 with 8 or 16. W5 itself: 9.2-9.5 ms row by row, 8.6-9.1
 *     with 8 rows a pass (LLVM back end, medians of 40 runs, binaries
 *     alternating; 7.7-8.0 through gcc); 4 and 16 measured the same.
 * Either is cut in the group's row blocks only, as ia_fuse_rows needs of
 * every member (the partition is known when block tasks are planned).
 *
 * Rows over several indices. A group's rows are its first index's
 * values, and its tasks' row blocks are cut along it alone. Where block
 * tasks on CPUs cut the leader along later indices too (W3's scores
 * A[b, h, s, t] per head: b and h cut, so a row of b would be a block's
 * whole 4 MiB), the rows are the points of the group's first row_rank
 * indices instead, numbered in C order (Kplan.row_rank): as many as every
 * member can take, all of a reduction's output indices and a map's but
 * its last, and covering every index the leader is cut along. Then each
 * block's rows are one range of those numbers where every index after
 * the first one cut to more than one value is whole (ia_task_rows), and
 * each row function finds its indices from the number. W3's row
 * maximum, exponentials and their row sums, fused so per (b, h, s) row,
 * took 620-710 ms of task time over 3 runs against 920-1060 as three
 * passes over each head's scores (LLVM back end, 2 threads). Row
 * reducers and prefetch keep to rows of one index.
 *
 * Prefetch. The first member to read a large operand's row brings it
 * from memory, and while the members compute on it from cache the
 * memory sits idle: row time is memory time plus compute time. So the
 * group's first member whose sum is blocked (KPLAN_SUM_BLOCK terms a
 * block) and reads that operand along the sum prefetches, in each block,
 * the same terms of its next row (KplanNest.prefetch): a cache line at a
 * time, spread over the row's compute, and the next row is in cache
 * when the group gets to it. W4's log-sum-exp (8192 rows of 8192; the
 * max streams X, the sum of exponentials reads it from L1) took 28-36
 * ms against 38-42 (LLVM back end, 2 threads, AVX-512; C back end 32-42
 * against 45-57); W5, whose dot streams X and prefetches it for the
 * next row while the map and the row reducer use this one, 20-23 ms
 * against 32-35. A group of one member, or a blocked sum in no group
 * (block tasks' loop kernels), prefetches too: it has no other member's
 * compute to overlap, but its blocks' sums and pairwise steps leave too
 * few loads in flight for the memory to keep up. s[i] = sum[j](X[i, j])
 * over a 100000 x 1000 f32 X took 8.3-8.5 ms without, 5.6-5.9 with
 * (LLVM back end, 2 threads; OpenBLAS's GEMV over the same X: 5.7-6.0).
 */

/* The index of v its group's rows run along (row_dim may be NULL). */
static int kplan_row_dim_of(const int *row_dim, int v)
{
	return row_dim ? row_dim[v] : 0;
}

/* Whether loop kernel id can join the group led by lead along its index
 * rd: as long as the leader's rows, and every read of a member at that
 * index, at the member's own row index (a row reducer's rows are read by
 * nobody in the group). */
static bool kplan_joins_group(const TraGraph *g, const int *leader, const int *row_dim, int id, int lead,
                              int rd)
{
	const TraNode *n = &g->nodes[id], *l = &g->nodes[lead];
	if (n->rank == 0 || l->rank == 0 || n->idx[rd].size != l->idx[0].size)
		return false;
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		/* an affine read (a view's) of a member may reach other rows */
		if (op->node >= lead && leader[op->node] == lead &&
		    (op->aff || op->idx[0] != rd || kplan_row_dim_of(row_dim, op->node) != 0))
			return false;
	}
	return true;
}

/* Whether node id is a row dot (above), cut in blocks row blocks only. */
static bool kplan_row_dot(const TraGraph *g, int id, int blocks)
{
	const TraNode *n = &g->nodes[id];
	if (n->rank != 1 || n->agg != TRA_AGG_SUM || !ia_rows_only(n, 0, blocks))
		return false;
	KplanNest nest;
	kplan_nest(g, id, &nest);
	int big = kplan_largest_operand(g, n);
	return nest.reduce == KPLAN_RED_SIMD && tra_operand_stride(g, n, big, nest.red[nest.nred - 1]) == 1;
}

/* Whether node id can be the row reducer (above) of the group led by
 * lead. */
static bool kplan_row_reducer(const TraGraph *g, int id, int lead)
{
	const TraNode *n = &g->nodes[id], *l = &g->nodes[lead];
	if (n->nidx != n->rank + 1 || n->agg != TRA_AGG_SUM || tra_node_is_scatter(n) || !l->part)
		return false;
	int blocks = l->part[0];
	int64_t rows = l->idx[0].size;
	return blocks > 1 && (rows + blocks - 1) / blocks <= KPLAN_ROW_REDUCE_MAX && ia_rows_only(n, n->rank, blocks) &&
	       kplan_last_walks(g, n);
}

/* Whether node id is a strided reduction (KPLAN_RED_COLUMNS) whose
 * vector loop is its only output index, the one a group's rows would
 * run along: a column sum s[j] = sum[i](X[i, j]). A group cuts it into
 * chunks of as many columns as fit KPLAN_ROW_CHUNK_ELEMENTS join points,
 * 2 of X's 4096, so its tile is 2 wide and it reads X's rows 8 bytes at
 * a time: a column variance (the column mean, then the sum of squares
 * about it, both over a 4096 x 4096 X) took 100-124 ms as such a group
 * against 12-14 as the two column sums on their own (C back end, 2
 * threads); as a group in chunks of 1,024 columns, 12-14 too. So it
 * stays out of groups, as a GEMM does. A row reducer is such a sum, but
 * joins its group along its reduced index. */
static bool kplan_columns_on_rows(const TraGraph *g, int id)
{
	if (g->nodes[id].rank != 1)
		return false;
	KplanNest nest;
	kplan_nest(g, id, &nest);
	return nest.reduce == KPLAN_RED_COLUMNS;
}

/* Decides which whole-node kernels are GEMMs (is_gemm, may be NULL) and
 * groups consecutive loop kernels (leader, row_dim); cpu_blocks admits
 * row dots and row reducers. */
static void kplan_groups(const TraGraph *g, bool cpu_blocks, int *leader, int *row_dim, bool *is_gemm)
{
	int lead = -1;
	bool reduced = false; /* the group has its row reducer */
	for (int id = 0; id < g->nnodes; id++) {
		GemmPlan p;
		const TraNode *n = &g->nodes[id];
		leader[id] = id;
		if (row_dim)
			row_dim[id] = 0;
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		bool gemm = gemm_plan(g, n, GEMM_NODE, &p);
		if (is_gemm)
			is_gemm[id] = gemm;
		if (cpu_blocks && lead >= 0 && !reduced && kplan_row_reducer(g, id, lead) &&
		    kplan_joins_group(g, leader, row_dim, id, lead, n->rank)) {
			leader[id] = lead;
			if (row_dim)
				row_dim[id] = n->rank;
			reduced = true;
			continue;
		}
		const int *cut = lead >= 0 ? g->nodes[lead].part : n->part;
		bool dot = cpu_blocks && gemm && cut && kplan_row_dot(g, id, cut[0]);
		if ((gemm && !dot) || n->rank == 0 || tra_node_is_scatter(n) || kplan_columns_on_rows(g, id)) {
			lead = -1;
			continue;
		}
		if (lead >= 0 && kplan_joins_group(g, leader, row_dim, id, lead, 0)) {
			leader[id] = lead;
		} else {
			lead = id;
			reduced = false;
		}
	}
}

/* Whether the groups of ia's block kernels take row dots and a row
 * reducer: on CPUs (the GPU kernels of a group run a row per thread). */
static bool kplan_cpu_blocks(const IaGraph *ia)
{
	return ia && ia->ngpus == 0;
}

/* How many leading indices of member v of lead's group can be its rows
 * (the group's rows over several indices, above): all of a reduction's
 * output indices, a map's but its last (its vector loop), as long as
 * they are the leader's and v reads every member at them. */
static int kplan_member_rank(const TraGraph *g, const int *leader, int lead, int v)
{
	const TraNode *n = &g->nodes[v], *l = &g->nodes[lead];
	KplanNest nest;
	kplan_nest(g, v, &nest);
	if (nest.reduce == KPLAN_RED_COLUMNS)
		return 1; /* its vector loop is along its last output index */
	int r = n->agg == TRA_AGG_NONE ? n->rank - 1 : n->rank;
	for (int d = 0; d < r; d++)
		if (d >= l->rank || n->idx[d].size != l->idx[d].size)
			r = d;
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		if (op->node < lead || leader[op->node] != lead)
			continue;
		for (int d = 0; d < r && d < op->rank; d++)
			if (op->idx[d] != d)
				r = d;
	}
	return r;
}

/* row_rank[lead] for each group leader: 1 (rows along the first index),
 * or, in block tasks on CPUs where the leader is cut along a later index
 * too (W3's heads), the most leading indices every member can take as
 * its rows, if they cover every index the leader is cut along. */
static void kplan_group_ranks(const TraGraph *g, bool cpu_blocks, const int *leader, const int *row_dim,
                              int *row_rank)
{
	for (int v = 0; v < g->nnodes; v++)
		row_rank[v] = leader[v] == v ? INT_MAX : 1;
	for (int v = 0; v < g->nnodes; v++) {
		int lead = leader[v];
		const TraNode *l = &g->nodes[lead];
		if (!cpu_blocks || l->kind != TRA_NODE_EINSUM || !l->part || row_dim[v] > 0)
			row_rank[lead] = 1;
		else if (row_rank[lead] > 1) {
			int r = kplan_member_rank(g, leader, lead, v);
			if (r < row_rank[lead])
				row_rank[lead] = r;
		}
	}
	for (int v = 0; v < g->nnodes; v++) {
		if (row_rank[v] <= 1) {
			row_rank[v] = 1; /* a rank-1 map's 0 included */
			continue;
		}
		const TraNode *l = &g->nodes[v];
		bool later = false, covered = true;
		for (int d = 1; d < l->nidx; d++) {
			later = later || l->part[d] > 1;
			covered = covered && (l->part[d] == 1 || d < row_rank[v]);
		}
		if (!later || !covered)
			row_rank[v] = 1;
	}
}

void kplan_row_groups(const TraGraph *g, int *leader)
{
	kplan_groups(g, false, leader, NULL, NULL);
}

void kplan_fuse_rows(const TraGraph *g, IaGraph *ia)
{
	int *leader = xcalloc((size_t)g->nnodes + 1, sizeof *leader);
	int *row_dim = xcalloc((size_t)g->nnodes + 1, sizeof *row_dim);
	int *row_rank = xcalloc((size_t)g->nnodes + 1, sizeof *row_rank);
	kplan_groups(g, kplan_cpu_blocks(ia), leader, row_dim, NULL);
	kplan_group_ranks(g, kplan_cpu_blocks(ia), leader, row_dim, row_rank);
	ia_fuse_rows(ia, leader, row_dim, row_rank);
	free(leader);
	free(row_dim);
	free(row_rank);
}

/* Rows per chunk of the group led by lead: one where a member's row is
 * long, many where every row is short (a group of vector maps). A row is
 * measured in join points, reduced indices included: a row maximum
 * writes one element per row but reads a whole row of its operand, and
 * the sum that subtracts it must find that row still in cache. The
 * bound, 32 KiB of f32, keeps what a producer wrote, and the operand
 * rows it read, in cache when its consumer reads them. */
static int64_t kplan_group_chunk(const TraGraph *g, const int *leader, int lead, int end, int rank)
{
	/* alone in its group (kplan_groups), a whole-node column sum runs its
	   rows, its columns, in one chunk, a tile's width at a time */
	if (kplan_columns_on_rows(g, lead))
		return g->nodes[lead].idx[0].size;
	double row = 1, rows = 1;
	for (int d = 0; d < rank; d++)
		rows *= (double)g->nodes[lead].idx[d].size;
	for (int id = lead; id < end; id++)
		if (leader[id] == lead && tra_node_join_points(&g->nodes[id]) / rows > row)
			row = tra_node_join_points(&g->nodes[id]) / rows;
	return row >= KPLAN_ROW_CHUNK_ELEMENTS ? 1 : (int64_t)(KPLAN_ROW_CHUNK_ELEMENTS / row);
}

/* ---- building the program's kernels ----------------------------------------- */

static Kplan *kplan_add(KplanProgram *kp, KplanKind kind, int node, bool block)
{
	if (kp->nkernels == kp->capkernels) /* doubling: a plan per statement of a 40,000-statement group */
		kp->kernels = xrealloc(kp->kernels, (size_t)(kp->capkernels = kp->capkernels ? 2 * kp->capkernels : 16) *
		                                        sizeof *kp->kernels);
	Kplan *k = &kp->kernels[kp->nkernels++];
	memset(k, 0, sizeof *k);
	k->kind = kind;
	k->node = node;
	k->block = block;
	return k;
}

/* Strassen-Winograd. A GEMM kernel's calls go through the runtime's
 * trart_?gemm (runtime/strassen.c), which cuts a call whose M, N and K
 * are all at least TRART_STRASSEN_MIN into quadrants and computes it in
 * 7 products of them instead of 8, twice from twice that size, with 15
 * additions of quadrants a level. On calls that large OpenBLAS runs at
 * the machine's peak, so multiplying less is the only way left to be
 * faster: one thread, 2048 x 1024 x 1024 f32 took 0.92 of sgemm's time
 * in one level, 0.86-0.90 in two. Chosen for a block kernel
 * (kplan_add_block) whose largest call (in the partition's larger
 * blocks) reaches that size, so that the runtime would cut it, unless:
 *   - --no-strassen (KplanOptions.strassen false): plain BLAS, whose
 *     rounding the quadrant sums change (strassen.c's numerics);
 *   - a --memory budget: a level's quadrant sums take scratch space,
 *     a quarter of A, half of B and up to half of C, that memgraph.c
 *     does not plan (the driver clears the option);
 *   - matrix-vector calls, which never reach the size; GPU programs,
 *     whose GEMMs are cuBLAS's.
 * Whole-node kernels (--node-kernels) never ask: their calls run
 * OpenBLAS on every thread, and there the quadrants' smaller products
 * lost more of the threads' efficiency than the levels saved (W1, 2
 * threads: 86-103 ms with them, 86-90 without); a block task's call is
 * one thread's. */
static bool kplan_strassen(const KplanProgram *kp, const TraNode *n, const Kplan *k)
{
	const GemmPlan *p = &k->gemm;
	if (!kp->opt.strassen || k->gemv || !kplan_cpu_blocks(kp->ia))
		return false;
	return gemm_group_extent(n, GEMM_BLOCKS, &p->m) >= TRART_STRASSEN_MIN &&
	       gemm_group_extent(n, GEMM_BLOCKS, &p->nn) >= TRART_STRASSEN_MIN &&
	       gemm_group_extent(n, GEMM_BLOCKS, &p->k) >= TRART_STRASSEN_MIN;
}

/* A whole-node GEMM runs in panels when its output's rows are its first
 * index, which is all of M, nothing is looped, and an epilogue follows. */
static bool kplan_panels(const TraNode *n, const GemmPlan *p)
{
	return p->epilogue && !p->C.scratch && p->batch.n == 0 && p->kloop.n == 0 && p->m.n == 1 &&
	       p->m.x[0] == 0 && !p->C.trans && n->idx[0].size > KPLAN_PANEL && gemm_group_size(n, &p->nn) > 1;
}

/* Node id's own kernel, a loop nest. */
static void kplan_add_scatter(KplanProgram *kp, int id, bool block)
{
	kp->node_plan[id] = kp->nkernels;
	Kplan *k = kplan_add(kp, KPLAN_SCATTER, id, block);
	kplan_scatter_nest(kp->g, id, &k->nest);
}

static void kplan_add_loops(KplanProgram *kp, int id, bool block)
{
	kp->node_plan[id] = kp->nkernels;
	Kplan *k = kplan_add(kp, KPLAN_LOOPS, id, block);
	kplan_nest(kp->g, id, &k->nest);
}

/* The row group led by lead, after its members' loop kernels. */
static void kplan_add_rows(KplanProgram *kp, int lead, bool block)
{
	const TraGraph *g = kp->g;
	kp->rows_plan[lead] = kp->nkernels;
	Kplan *k = kplan_add(kp, KPLAN_ROWS, lead, block);
	int end = kp->group_end[lead];
	k->members = xcalloc((size_t)(end - lead), sizeof *k->members);
	k->reducer = -1;
	for (int v = lead; v < end; v++)
		if (kp->leader[v] == lead) {
			k->members[k->nmembers++] = v;
			if (kp->row_dim[v] > 0)
				k->reducer = v;
		}
	/* a row reducer's group runs KPLAN_REDUCER_JAM rows a chunk, which
	   the reducer adds into each element of its partial block in one pass
	   (kplan.c's row groups say why) */
	k->row_rank = kp->row_rank[lead];
	/* a chunk loop with every member inlined is one function of as many
	   loops, which LLVM's and gcc's loop passes take superlinear time
	   over (20,000 maps fused into 159 members: 11.8 s through LLVM,
	   17.8 through gcc); a call per member per chunk costs nothing next
	   to that many members' work, but a few nanoseconds a row in W5's
	   three-member group of one-row chunks, which stays inlined */
	k->calls = k->nmembers > KPLAN_INLINE_MEMBERS;
	k->jam = k->reducer >= 0 ? KPLAN_REDUCER_JAM : 1;
	k->chunk = k->reducer >= 0 ? k->jam : kplan_group_chunk(g, kp->leader, lead, end, k->row_rank);
}

/* Whole-node kernels, in node order: a GEMM, or a loop nest (a rank-0
 * one alone, the others in row groups, each group after its last
 * member). */
static void kplan_build_nodes(KplanProgram *kp, const bool *is_gemm)
{
	const TraGraph *g = kp->g;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		if (tra_node_is_scatter(n)) {
			kplan_add_scatter(kp, id, false);
			continue;
		}
		GemmPlan p;
		if (is_gemm[id] && gemm_plan(g, n, GEMM_NODE, &p)) {
			kp->node_plan[id] = kp->nkernels;
			Kplan *k = kplan_add(kp, KPLAN_BLAS, id, false);
			k->gemm = p;
			k->gemv = gemm_is_gemv(n, &p);
			k->panels = kplan_panels(n, &p);
			continue;
		}
		kplan_add_loops(kp, id, false);
		if (n->rank > 0 && id + 1 == kp->group_end[kp->leader[id]])
			kplan_add_rows(kp, kp->leader[id], false);
	}
}

/* What the tasks of ia say about each node, in one pass over them (per
 * node, a pass each made planning quadratic in the program's size). */
enum {
	KPLAN_HAS_JOINS = 1,  /* join tasks of its own (not all fused) */
	KPLAN_SPLIT = 2,      /* some join block leaves partial results */
	KPLAN_FUSED_ROWS = 4, /* it leads a row group that ia_fuse_rows fused */
};

static unsigned char *kplan_task_facts(const TraGraph *g, const IaGraph *ia)
{
	unsigned char *f = xcalloc((size_t)g->nnodes + 1, 1);
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *k = &ia->tasks[t];
		if (k->rows >= 0)
			f[k->rows] |= KPLAN_FUSED_ROWS;
		if (k->kind != IA_JOIN || k->node < 0)
			continue;
		const TraNode *n = &g->nodes[k->node];
		f[k->node] |= KPLAN_HAS_JOINS;
		for (int d = n->rank; d < n->nidx; d++)
			if (k->lo[d] != 0 || k->hi[d] != n->idx[d].size)
				f[k->node] |= KPLAN_SPLIT;
	}
	return f;
}

/* Transposes. A map's vector loop is its last output index, which
 * writes the output contiguously. Where its largest operand is read
 * with a stride along it (Y[j, i] = X[i, j]), each element comes from
 * another row of that operand, and the rows' lines must stay in cache
 * until the loop over the outer index comes back for their next
 * elements: 4096 rows of 16 KiB apart, which map to few cache sets,
 * do not. A block map whose largest operand so read (or one as large:
 * X + X^T) is contiguous along an outer output index instead runs that
 * index and its vector loop in tiles of KPLAN_TRANSPOSE_TILE x KPLAN_TRANSPOSE_TILE (KplanNest.tile,
 * tile_index): a tile reads 16 lines of the operand and writes 16 of
 * the output. Y[j, i] = X[i, j] over 4096 x 4096 f32 took 125 ms
 * untiled, 25 in tiles of 8, 21 of 16, 46 of 32 (C back end, 2
 * threads); NumPy's copy of X.T, 130. */
static void kplan_transpose(const TraGraph *g, const TraNode *n, KplanNest *nest)
{
	int v = n->rank - 1, big = kplan_largest_operand(g, n);
	if (n->agg != TRA_AGG_NONE || n->rank < 2 || big < 0 || n->idx[v].size < KPLAN_TRANSPOSE_TILE)
		return;
	/* the largest operand read across (X + X^T reads X both ways), if it
	   is as large as the largest */
	int64_t most = tra_node_elements(&g->nodes[n->ops[big].node]);
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		int64_t sv = tra_operand_stride(g, n, k, v);
		if ((op->aff && op->aff->gather) || sv == 0 || sv == 1 || sv == -1 ||
		    tra_node_elements(&g->nodes[op->node]) < most)
			continue;
		for (int t = v - 1; t >= 0; t--)
			if (n->idx[t].size >= KPLAN_TRANSPOSE_TILE && tra_operand_stride(g, n, k, t) == 1) {
				nest->tile = KPLAN_TRANSPOSE_TILE;
				nest->tile_index = t;
				return;
			}
	}
}

/* Whether expression e reads an index's value (TRA_OP_INDEX). */
static bool kplan_reads_index(const TraGraph *g, int e)
{
	if (e < 0)
		return false;
	const TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_INDEX)
		return true;
	if (x->op == TRA_OP_VAR)
		return kplan_reads_index(g, g->ex[x->arg].kid[0]);
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		if (kplan_reads_index(g, x->kid[k]))
			return true;
	return false;
}

/* Whether every operand of n moves from index d + 1's last point to
 * index d's next as it does along d + 1: its stride along d is its
 * stride along d + 1 times d + 1's size (the output, in C order,
 * always does). */
static bool kplan_merges(const TraGraph *g, const TraNode *n, int d)
{
	for (int k = 0; k < n->nops; k++)
		if (tra_operand_stride(g, n, k, d) != tra_operand_stride(g, n, k, d + 1) * n->idx[d + 1].size)
			return false;
	return true;
}

/* Short rows. A map's vector loop runs along its last index; where that
 * is short (Y[i, c] = exp(X[i, c]) over 4M x 10), each row is a vector
 * of a few lanes and a scalar remainder: 47-54 ms through LLVM, against
 * 9-11 for the same 40M elements as one index. Where the output and
 * every operand are laid out alike along the last indices (kplan_merges;
 * not a broadcast m[i], nor an affine read, nor an index's value), a
 * block that holds whole rows is one contiguous range, and its loops
 * run as one over the last index (KplanNest.flat). The merge goes
 * outwards while the rows merged so far are shorter than
 * KPLAN_FLAT_ROW (longer rows gain nothing) and stops at an index the
 * partition cuts: the indices inside the first merged one must be whole
 * in every block. GPUs run an element a thread, unflattened. */
static void kplan_flatten(const TraGraph *g, const TraNode *n, KplanNest *nest)
{
	int v = n->rank - 1;
	if (n->agg != TRA_AGG_NONE || n->rank < 2 || nest->tile > 0 || kplan_reads_index(g, n->join) ||
	    kplan_reads_index(g, n->epilogue))
		return;
	for (int k = 0; k < n->nops; k++)
		if (n->ops[k].aff)
			return;
	int64_t row = n->idx[v].size;
	for (int d = v - 1; d >= 0 && row < KPLAN_FLAT_ROW; d--) {
		if ((n->part && n->part[d + 1] > 1) || !kplan_merges(g, n, d))
			return;
		nest->flat = v - d;
		row *= n->idx[d].size;
	}
}

int64_t kplan_flat_row(const TraNode *n, const KplanNest *L)
{
	int64_t row = 1;
	for (int d = n->rank - L->flat; d < n->rank; d++)
		row *= n->idx[d].size;
	return row;
}

/* Node id's block kernels: a join (BLAS or loops), and an aggregation
 * if its reduction is split. */
static void kplan_add_block(KplanProgram *kp, int id, bool split_joins)
{
	const TraNode *n = &kp->g->nodes[id];
	bool split = n->agg != TRA_AGG_NONE && split_joins;
	GemmPlan p;
	if (tra_node_is_scatter(n)) {
		TRAC_ASSERT(!split); /* decomp never cuts one */
		kplan_add_scatter(kp, id, true);
		return;
	}
	if (gemm_plan(kp->g, n, GEMM_BLOCKS, &p)) {
		kp->node_plan[id] = kp->nkernels;
		Kplan *k = kplan_add(kp, KPLAN_BLAS, id, true);
		k->gemm = p;
		k->gemv = p.m.n == 0; /* a row vector times a matrix block */
		k->gemm.strassen = kplan_strassen(kp, n, k);
	} else {
		kplan_add_loops(kp, id, true);
		kplan_transpose(kp->g, n, &kp->kernels[kp->node_plan[id]].nest);
		kplan_flatten(kp->g, n, &kp->kernels[kp->node_plan[id]].nest);
	}
	kp->kernels[kp->node_plan[id]].split = split;
	if (split) {
		kp->agg_plan[id] = kp->nkernels;
		Kplan *k = kplan_add(kp, KPLAN_AGG, id, true);
		kplan_nest(kp->g, id, &k->nest);
	}
}

/* A member of a fused row group: its loop nest, which the group's
 * kernel runs, and for the row reducer, the aggregation of its partial
 * blocks (its joins are all fused). */
static void kplan_add_member(KplanProgram *kp, int v)
{
	kplan_add_loops(kp, v, false);
	if (kp->row_dim[v] == 0)
		return;
	kp->kernels[kp->node_plan[v]].split = true;
	kp->agg_plan[v] = kp->nkernels;
	Kplan *k = kplan_add(kp, KPLAN_AGG, v, true);
	kplan_nest(kp->g, v, &k->nest);
}

/* Block kernels, in node order: the no-op first, then per einsum a fused
 * row group (its members' row functions, then the group), or the node's
 * own block kernels where it has joins. */
static void kplan_build_blocks(KplanProgram *kp)
{
	const TraGraph *g = kp->g;
	unsigned char *facts = kplan_task_facts(g, kp->ia);
	kplan_add(kp, KPLAN_NOP, -1, true);
	for (int id = 0; id < g->nnodes; id++) {
		if (g->nodes[id].kind != TRA_NODE_EINSUM)
			continue;
		if (facts[id] & KPLAN_FUSED_ROWS) {
			for (int v = id; v < kp->group_end[id]; v++)
				if (kp->leader[v] == id)
					kplan_add_member(kp, v);
			kplan_add_rows(kp, id, true);
		} else if (facts[id] & KPLAN_HAS_JOINS) {
			kplan_add_block(kp, id, facts[id] & KPLAN_SPLIT);
		}
	}
	free(facts);
}

/* ---- the task table ------------------------------------------------------------ */

/* Adds b to the nuse entries of use unless it is there: seen[b] == mark
 * says it is (each list has its own mark, so a row group's thousands of
 * buffers are not each compared with all the others). */
static int kplan_use_add(int *use, int nuse, int b, int *seen, int mark)
{
	if (seen[b] == mark)
		return nuse;
	seen[b] = mark;
	use[nuse] = b;
	return nuse + 1;
}

/* The buffers a join or aggregation uses, each once: its node's and its
 * operands'; for a row-fused join, those of every node of its group. */
static void kplan_task_uses(const KplanProgram *kp, const IaTask *k, KplanTask *kt, int *seen,
                            int mark)
{
	const TraGraph *g = kp->g;
	/* a row-fused join is its leader's (ia_fuse_rows), so k->node is first */
	int first = k->node;
	int end = k->rows >= 0 ? kp->group_end[k->rows] : k->node + 1;
	size_t room = 1;
	for (int v = first; v < end; v++)
		room += 1 + (size_t)g->nodes[v].nops;
	kt->use = xcalloc(room, sizeof *kt->use);
	for (int v = first; v < end; v++) {
		if (v != k->node && (k->rows < 0 || kp->leader[v] != k->rows))
			continue;
		if (k->rows < 0 || kp->row_dim[v] == 0) /* a row reducer: its partial block only */
			kt->nuse = kplan_use_add(kt->use, kt->nuse, v, seen, mark);
		for (int q = 0; q < g->nodes[v].nops; q++)
			kt->nuse = kplan_use_add(kt->use, kt->nuse, g->nodes[v].ops[q].node, seen, mark);
	}
}

/* Join w's partial block, sized: its output block's bytes. */
static void kplan_partial_size(KplanProgram *kp, int w)
{
	const IaTask *wk = &kp->ia->tasks[w];
	const TraNode *n = &kp->g->nodes[wk->node];
	int64_t e = 1;
	for (int d = 0; d < n->rank; d++)
		e *= wk->hi[d] - wk->lo[d];
	kp->pooled[KPLAN_PARTIAL(kp, w)] = e * (int64_t)trart_dtype_size(n->type);
}

/* A split join's partial block is a buffer of its own, KPLAN_PARTIAL(kp,
 * t), sized by the task that writes it: the join itself, or the row
 * group's task that computes it (its parts). Each task uses the partial
 * blocks it writes, and an aggregation those of its parts; the memory
 * planner places them like any other buffer. */
static void kplan_task_partial(KplanProgram *kp, int t)
{
	const IaTask *k = &kp->ia->tasks[t];
	KplanTask *kt = &kp->tasks[t];
	bool own = k->kind == IA_JOIN && k->rows < 0 && kp->kernels[kt->kernel].split;
	kt->use = xrealloc(kt->use, ((size_t)kt->nuse + (size_t)kt->nparts + 1) * sizeof *kt->use);
	if (own) {
		kplan_partial_size(kp, t);
		kt->use[kt->nuse++] = KPLAN_PARTIAL(kp, t);
	}
	for (int q = 0; q < kt->nparts; q++) {
		if (k->kind == IA_JOIN)
			kplan_partial_size(kp, kt->parts[q]);
		kt->use[kt->nuse++] = KPLAN_PARTIAL(kp, kt->parts[q]);
	}
}

int kplan_buffer_node(const KplanProgram *kp, int b)
{
	return b < kp->g->nnodes ? b : kp->ia->tasks[b - kp->g->nnodes].node;
}

bool kplan_member_called(const KplanProgram *kp, int id)
{
	int r = kp->rows_plan[kp->leader[id]];
	return r >= 0 && kp->kernels[r].calls;
}

/* The kernel task k runs (kplan_build_blocks made them all). */
static int kplan_task_kernel(const KplanProgram *kp, const IaTask *k)
{
	if (k->rows >= 0)
		return kp->rows_plan[k->rows];
	if (k->kind == IA_JOIN)
		return kp->node_plan[k->node];
	if (k->kind == IA_AGG)
		return kp->agg_plan[k->node];
	return 0; /* the no-op */
}

/* A row group's task t with a row reducer: that member's join of t's
 * rows (one of t's readers, fused into t), into *part; returns 1, else 0. */
static int kplan_reducer_join(const KplanProgram *kp, int t, int *part)
{
	const IaGraph *ia = kp->ia;
	const IaTask *k = &ia->tasks[t];
	int r = k->rows >= 0 ? kp->kernels[kp->rows_plan[k->rows]].reducer : -1;
	for (int i = 0; r >= 0 && i < ia->ncons[t]; i++) {
		const IaTask *c = &ia->tasks[ia->cons[t][i]];
		if (c->kind == IA_FUSED && c->node == r) {
			*part = ia->cons[t][i];
			return 1;
		}
	}
	TRAC_ASSERT(r < 0); /* ia_fuse_rows fused every member's join */
	return 0;
}

/* One row per task: successors without repeats (each counted as a
 * predecessor of its reader), the partial joins of an aggregation, the
 * buffers of a join or aggregation; and the pooled bytes per node. */
static void kplan_build_tasks(KplanProgram *kp)
{
	const IaGraph *ia = kp->ia;
	const TraGraph *g = kp->g;
	kp->tasks = xcalloc((size_t)ia->ntasks + 1, sizeof *kp->tasks);
	int *seen_task = xcalloc((size_t)ia->ntasks + 1, sizeof *seen_task);
	int *seen_node = xcalloc((size_t)g->nnodes + 1, sizeof *seen_node);
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *k = &ia->tasks[t];
		KplanTask *kt = &kp->tasks[t];
		kt->kernel = kplan_task_kernel(kp, k);
		kt->succ = xcalloc((size_t)ia->ncons[t] + 1, sizeof *kt->succ);
		for (int r = 0; r < ia->ncons[t]; r++) {
			int n = kplan_use_add(kt->succ, kt->nsucc, ia->cons[t][r], seen_task, t + 1);
			if (n > kt->nsucc)
				kp->tasks[ia->cons[t][r]].npred++;
			kt->nsucc = n;
		}
		kt->parts = xcalloc((size_t)k->nin + 2, sizeof *kt->parts);
		for (int i = 0; k->kind == IA_AGG && i < k->nin; i++) {
			const IaTask *in = &ia->tasks[k->in[i]];
			if ((in->kind == IA_JOIN || in->kind == IA_FUSED) && in->node == k->node)
				kt->parts[kt->nparts++] = k->in[i];
		}
		kt->nparts += kplan_reducer_join(kp, t, kt->parts);
		if (k->kind == IA_JOIN || k->kind == IA_AGG)
			kplan_task_uses(kp, k, kt, seen_node, t + 1);
	}
	free(seen_task);
	free(seen_node);
	kp->nbufs = g->nnodes + ia->ntasks;
	kp->pooled = xcalloc((size_t)kp->nbufs + 1, sizeof *kp->pooled);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_INPUT && !n->is_output)
			kp->pooled[id] = tra_node_elements(n) * (int64_t)trart_dtype_size(n->type);
	}
	for (int t = 0; t < ia->ntasks; t++)
		kplan_task_partial(kp, t);
}

static int *kplan_minus_ones(int n)
{
	int *a = xmalloc((size_t)(n + 1) * sizeof *a);
	for (int i = 0; i <= n; i++)
		a[i] = -1;
	return a;
}

/* The operand a blocked sum streams (the largest contiguous along the
 * sum's index, read at successive rows along index 0), or -1; group and
 * taken as kplan_row_prefetch's, group -1 for a lone nest. */
static int kplan_streamed_operand(const KplanProgram *kp, const TraNode *n, const KplanNest *nest, int group,
                                  const int *taken)
{
	const TraGraph *g = kp->g;
	int x = nest->red[nest->nred - 1], best = -1;
	int64_t best_size = 0;
	for (int o = 0; o < n->nops; o++) {
		const TraOperand *op = &n->ops[o];
		if (op->aff || (group >= 0 && (taken[op->node] == group || kp->leader[op->node] == group)) ||
		    tra_operand_stride(g, n, o, x) != 1 || tra_operand_stride(g, n, o, 0) <= 0)
			continue;
		int64_t size = tra_node_elements(&g->nodes[op->node]);
		if (size > best_size) {
			best = o;
			best_size = size;
		}
	}
	return best;
}

/* The operand whose next row member i of group k prefetches (the row
 * groups section says why), or -1: the first blocked sum of a group to
 * read a large operand at the group's rows,
 * contiguous along the sum's index, prefetches it; not one the group
 * makes (its next row comes after this one), nor one an earlier member
 * took (taken[v] is the group that took node v); the largest such. */
static int kplan_row_prefetch(const KplanProgram *kp, const Kplan *k, int i, const int *taken)
{
	const TraGraph *g = kp->g;
	const TraNode *n = &g->nodes[k->members[i]];
	const KplanNest *nest = &kp->kernels[kp->node_plan[k->members[i]]].nest;
	if (!nest->blocked || nest->reduce != KPLAN_RED_SIMD || k->members[i] == k->reducer)
		return -1;
	return kplan_streamed_operand(kp, n, nest, k->node, taken);
}

/* A blocked sum in no row group whose outer loop is its rows (index 0,
 * split across threads or cut by blocks) prefetches the operand it
 * streams a row ahead, as a group's first member does (the row groups
 * section says why). */
static void kplan_lone_prefetch(KplanProgram *kp, Kplan *k)
{
	if (k->kind != KPLAN_LOOPS || kp->rows_plan[kp->leader[k->node]] >= 0)
		return;
	KplanNest *nest = &k->nest;
	if (!nest->blocked || nest->reduce != KPLAN_RED_SIMD || nest->split != 0 || nest->order[0] != 0)
		return;
	const TraNode *n = &kp->g->nodes[k->node];
	nest->prefetch = kplan_streamed_operand(kp, n, nest, -1, NULL);
	if (nest->prefetch >= 0)
		nest->prefetch_stride = tra_operand_stride(kp->g, n, nest->prefetch, 0);
}

/* Each row group's prefetches, in one pass over the groups (rows along
 * one index only: a row of several indices' next one is not one step of
 * the first). */
static void kplan_plan_prefetch(KplanProgram *kp)
{
	const TraGraph *g = kp->g;
	int *taken = kplan_minus_ones(g->nnodes);
	for (int r = 0; r < kp->nkernels; r++) {
		const Kplan *k = &kp->kernels[r];
		if (k->kind != KPLAN_ROWS || k->row_rank > 1)
			continue;
		for (int i = 0; i < k->nmembers; i++) {
			const TraNode *n = &g->nodes[k->members[i]];
			KplanNest *nest = &kp->kernels[kp->node_plan[k->members[i]]].nest;
			nest->prefetch = kplan_row_prefetch(kp, k, i, taken);
			if (nest->prefetch < 0)
				continue;
			nest->prefetch_stride = tra_operand_stride(g, n, nest->prefetch, 0);
			taken[n->ops[nest->prefetch].node] = k->node;
		}
	}
	for (int r = 0; r < kp->nkernels; r++)
		kplan_lone_prefetch(kp, &kp->kernels[r]);
	free(taken);
}

/* Deferred epilogues. A rank-1 reduction's loop over its rows holds the
 * reduction's vector loop, so its epilogue is scalar code, once per row:
 * W5's r[i] = sigmoid(sum[j](X[i, j] * w[j])) - y[i] ran a scalar
 * exp, a division and their dependent chain after every row's sum.
 * Where the epilogue costs KPLAN_DEFER_FLOPS or more (ops.def: a
 * transcendental), each row's sum is stored to out as it is, and after
 * the range of rows (a row function's, a chunk in a row group; a
 * block's rows) one vector loop reads the sums back and applies the
 * epilogue. The sums stay in L1 (a chunk's are a few hundred bytes).
 * A sigmoid of a sum and a log of a max over 1M rows of 64 f32 (one row
 * group, 2 threads, interleaved medians of 21 runs) took 5.9-6.6 ms
 * against 15.5-15.7 (LLVM back end; C back end 5.9-7.7 against
 * 12.0-17.6); W5, whose rows are long, 8.6-9.3 against 8.5-9.6 (faster
 * in 6 of 8 rounds; C 9.3-10.3 against 8.7-10.7, 7 of 8). Not a split
 * join's (its epilogue is its aggregation's; a row reducer is one), nor
 * on GPUs, where a thread computes one row. */
static bool kplan_defers(const KplanProgram *kp, const Kplan *k)
{
	const TraGraph *g = kp->g;
	const TraNode *n = &g->nodes[k->node];
	const KplanNest *nest = &k->nest;
	if (k->kind != KPLAN_LOOPS || k->split || n->rank != 1 || nest->reduce != KPLAN_RED_SIMD ||
	    nest->epilogue < 0)
		return false;
	return tra_expr_flops(g, nest->epilogue) >= KPLAN_DEFER_FLOPS;
}

static void kplan_plan_deferred(KplanProgram *kp)
{
	if (kp->ia && kp->ia->ngpus > 0)
		return;
	for (int i = 0; i < kp->nkernels; i++)
		kp->kernels[i].nest.deferred = kplan_defers(kp, &kp->kernels[i]);
}

void kplan_build(const TraGraph *g, const IaGraph *ia, const KplanOptions *o, KplanProgram *kp)
{
	memset(kp, 0, sizeof *kp);
	kp->g = g;
	kp->ia = ia;
	if (o)
		kp->opt = *o;
	kp->leader = xcalloc((size_t)g->nnodes + 1, sizeof *kp->leader);
	kp->node_plan = kplan_minus_ones(g->nnodes);
	kp->rows_plan = kplan_minus_ones(g->nnodes);
	kp->agg_plan = kplan_minus_ones(g->nnodes);
	kp->row_dim = xcalloc((size_t)g->nnodes + 1, sizeof *kp->row_dim);
	bool *is_gemm = xcalloc((size_t)g->nnodes + 1, sizeof *is_gemm);
	kplan_groups(g, kplan_cpu_blocks(ia), kp->leader, kp->row_dim, is_gemm);
	kp->row_rank = xcalloc((size_t)g->nnodes + 1, sizeof *kp->row_rank);
	kplan_group_ranks(g, kplan_cpu_blocks(ia), kp->leader, kp->row_dim, kp->row_rank);
	kp->group_end = xcalloc((size_t)g->nnodes + 1, sizeof *kp->group_end);
	for (int v = 0; v < g->nnodes; v++)
		kp->group_end[kp->leader[v]] = v + 1;
	if (ia) {
		kplan_build_blocks(kp);
		kplan_build_tasks(kp);
	} else
		kplan_build_nodes(kp, is_gemm);
	kplan_plan_prefetch(kp);
	kplan_plan_deferred(kp);
	if (ia && ia->ngpus > 0) /* a GPU thread's arrays of lanes would be local memory; its */
		for (int i = 0; i < kp->nkernels; i++) { /* elements are a thread each, untiled */
			kp->kernels[i].nest.arg_lanes = 1;
			kp->kernels[i].nest.tile = 0;
			kp->kernels[i].nest.flat = 0;
		}
	free(is_gemm);
}

void kplan_free(KplanProgram *kp)
{
	for (int i = 0; i < kp->nkernels; i++)
		free(kp->kernels[i].members);
	free(kp->kernels);
	for (int t = 0; kp->tasks && t < kp->ia->ntasks; t++) {
		free(kp->tasks[t].succ);
		free(kp->tasks[t].parts);
		free(kp->tasks[t].use);
	}
	free(kp->tasks);
	free(kp->pooled);
	free(kp->leader);
	free(kp->row_dim);
	free(kp->row_rank);
	free(kp->group_end);
	free(kp->node_plan);
	free(kp->rows_plan);
	free(kp->agg_plan);
	memset(kp, 0, sizeof *kp);
}

/* ---- --emit=kernels ---------------------------------------------------------- */

const char *kplan_kind_name(KplanKind k)
{
	static const char *const names[] = {"nop", "blas", "loops", "rows", "aggregate", "scatter"};
	return names[k];
}

const char *kplan_reduce_name(KplanReduce r)
{
	static const char *const names[] = {"none", "simd", "columns", "arg"};
	return names[r];
}

/* "i j k": the names of indices xs of node n. */
static void kplan_dump_indices(const TraNode *n, const int *xs, int m, FILE *out)
{
	if (m == 0)
		fputs(" -", out);
	for (int i = 0; i < m; i++)
		fprintf(out, " %s", n->idx[xs[i]].name);
}

static void kplan_dump_group(const TraNode *n, const char *what, const GemmGroup *gr, FILE *out)
{
	fprintf(out, " %s", what);
	kplan_dump_indices(n, gr->x, gr->n, out);
	fprintf(out, " (%" PRId64 ")", gemm_group_size(n, gr));
}

static void kplan_dump_matrix(const TraGraph *g, const TraNode *n, const char *what, int k,
                              const GemmMatrix *m, FILE *out)
{
	fprintf(out, "    %s %s%s%s ld %" PRId64 "\n", what, k >= 0 ? g->nodes[n->ops[k].node].name : n->name,
	        m->trans ? " transposed" : "", m->scratch ? ", copied to scratch" : "", m->ld);
}

static void kplan_dump_blas(const TraGraph *g, const Kplan *k, FILE *out)
{
	const TraNode *n = &g->nodes[k->node];
	const GemmPlan *p = &k->gemm;
	fprintf(out, "  %s%s%s%s\n", k->gemv ? "gemv" : "gemm", k->panels ? ", in panels of rows" : "",
	        p->strassen ? ", Strassen-Winograd" : "", p->epilogue ? ", then the epilogue" : "");
	fputs("   ", out);
	kplan_dump_group(n, "batch", &p->batch, out);
	kplan_dump_group(n, "M", &p->m, out);
	kplan_dump_group(n, "N", &p->nn, out);
	kplan_dump_group(n, "K", &p->k, out);
	kplan_dump_group(n, "K looped", &p->kloop, out);
	fprintf(out, "\n    alpha %.17g, scale %.17g\n", p->alpha, p->scale);
	kplan_dump_matrix(g, n, "A", p->a, &p->A, out);
	kplan_dump_matrix(g, n, "B", p->b, &p->B, out);
	kplan_dump_matrix(g, n, "C", -1, &p->C, out);
	if (p->epilogue && n->epilogue >= 0) {
		fputs("    epilogue ", out);
		tra_expr_dump(g, n, n->epilogue, out);
		fputc('\n', out);
	}
}

static void kplan_dump_nest(const TraGraph *g, const KplanNest *nest, FILE *out)
{
	const TraNode *n = &g->nodes[nest->node];
	fputs("  loops", out);
	kplan_dump_indices(n, nest->order, nest->norder, out);
	fprintf(out, "\n    split %s, vector %s", nest->split >= 0 ? n->idx[nest->split].name : "-",
	        nest->vector >= 0 ? n->idx[nest->vector].name : "-");
	if (nest->tile > 0)
		fprintf(out, ", tiles of %" PRId64 " %s x %" PRId64 " %s", nest->tile, n->idx[nest->tile_index].name,
		        nest->tile, n->idx[nest->vector].name);
	if (nest->flat > 0) {
		fputs(", flat", out);
		for (int d = n->rank - 1 - nest->flat; d < n->rank; d++)
			fprintf(out, " %s", n->idx[d].name);
	}
	fputc('\n', out);
	fprintf(out, "    reduce %s", kplan_reduce_name(nest->reduce));
	if (nest->reduce != KPLAN_RED_NONE)
		fprintf(out, " %s from %g%s", tra_agg_name(nest->agg), nest->init, nest->nan_flag ? ", NaN flag" : "");
	if (nest->reduce == KPLAN_RED_COLUMNS)
		fprintf(out, ", tile %" PRId64, nest->column_tile);
	if (nest->blocked && nest->reduce == KPLAN_RED_COLUMNS)
		fprintf(out, ", blocked by %" PRId64 " twice", nest->column_block);
	else if (nest->blocked)
		fprintf(out, ", blocks of %" PRId64 " summed pairwise", nest->sum_block);
	if (nest->arg_lanes > 1)
		fprintf(out, ", %d lanes", nest->arg_lanes);
	if (nest->prefetch >= 0)
		fprintf(out, ", prefetching %s's next row", g->nodes[n->ops[nest->prefetch].node].name);
	fputs("\n    join ", out);
	tra_expr_dump(g, n, nest->join, out);
	if (nest->epilogue >= 0) {
		fputs("\n    epilogue ", out);
		tra_expr_dump(g, n, nest->epilogue, out);
		if (nest->deferred)
			fputs(", deferred: a vector loop after the rows' sums", out);
	}
	fputc('\n', out);
}

/* "    position q0 from tok at t, inside t": where a scatter-add reads each. */
static void kplan_dump_positions(const TraGraph *g, const KplanNest *nest, FILE *out)
{
	const TraNode *n = &g->nodes[nest->node];
	for (int d = 0; d < n->rank; d++) {
		if (nest->scatter_at[d] < 0)
			continue;
		const TraOperand *op = &n->ops[n->scatter[d]];
		fprintf(out, "    position %s from %s at", n->idx[d].name, g->nodes[op->node].name);
		kplan_dump_indices(n, op->idx, op->rank, out);
		if (nest->scatter_at[d] == 0)
			fputs(", before the loops\n", out);
		else
			fprintf(out, ", inside %s\n", n->idx[nest->order[nest->scatter_at[d] - 1]].name);
	}
}

static void kplan_dump_kernel(const KplanProgram *kp, int i, FILE *out)
{
	const TraGraph *g = kp->g;
	const Kplan *k = &kp->kernels[i];
	fprintf(out, "kernel %d: %s", i, kplan_kind_name(k->kind));
	if (k->node >= 0)
		fprintf(out, " %s", g->nodes[k->node].name);
	fprintf(out, "%s%s\n", k->block ? ", blocks" : "", k->split ? ", split reduction" : "");
	switch (k->kind) {
	case KPLAN_NOP: break;
	case KPLAN_BLAS: kplan_dump_blas(g, k, out); break;
	case KPLAN_LOOPS: kplan_dump_nest(g, &k->nest, out); break;
	case KPLAN_SCATTER:
		kplan_dump_nest(g, &k->nest, out);
		kplan_dump_positions(g, &k->nest, out);
		break;
	case KPLAN_ROWS:
		fprintf(out, "  members");
		for (int m = 0; m < k->nmembers; m++)
			fprintf(out, " %s", g->nodes[k->members[m]].name);
		fprintf(out, ", %" PRId64 " rows per chunk", k->chunk);
		if (k->row_rank > 1) {
			fputs(", a row for each", out);
			for (int d = 0; d < k->row_rank; d++)
				fprintf(out, " %s", g->nodes[k->node].idx[d].name);
		}
		if (k->reducer >= 0)
			fprintf(out, ", %s sums them into its partial block, %d rows a pass", g->nodes[k->reducer].name,
			        k->jam);
		if (k->calls)
			fputs(", each member's rows a call", out);
		fputc('\n', out);
		break;
	case KPLAN_AGG:
		fprintf(out, "  %s of partial blocks from %g", tra_agg_name(k->nest.agg), k->nest.init);
		if (k->nest.epilogue >= 0) {
			fputs(", epilogue ", out);
			tra_expr_dump(g, &g->nodes[k->node], k->nest.epilogue, out);
		}
		fputc('\n', out);
		break;
	}
}

static void kplan_dump_list(const char *what, const int *xs, int n, FILE *out)
{
	if (n == 0)
		return;
	fprintf(out, ", %s", what);
	for (int i = 0; i < n; i++)
		fprintf(out, " %d", xs[i]);
}

/* "task T: kernel K, waits N, wakes S.., parts P.., uses B..". */
static void kplan_dump_task(const KplanProgram *kp, int t, FILE *out)
{
	const KplanTask *kt = &kp->tasks[t];
	fprintf(out, "task %d: kernel %d, waits %d", t, kt->kernel, kt->npred);
	kplan_dump_list("wakes", kt->succ, kt->nsucc, out);
	kplan_dump_list("parts", kt->parts, kt->nparts, out);
	kplan_dump_list("uses", kt->use, kt->nuse, out);
	fputc('\n', out);
}

void kplan_dump(const KplanProgram *kp, FILE *out)
{
	fprintf(out, "%d kernels, %s\n", kp->nkernels, kp->ia ? "block tasks" : "whole nodes");
	for (int i = 0; i < kp->nkernels; i++)
		kplan_dump_kernel(kp, i, out);
	if (!kp->ia)
		return;
	fprintf(out, "%d tasks (wakes: task ids; uses: buffers by node id)\n", kp->ia->ntasks);
	for (int t = 0; t < kp->ia->ntasks; t++)
		kplan_dump_task(kp, t, out);
}

/* ---- what a task writes, for messages between ranks ---------------------------------- */

/* Task k's block of its node as a piece. */
static KplanPiece kplan_block_piece(const TraGraph *g, const IaTask *k)
{
	const TraNode *n = &g->nodes[k->node];
	KplanPiece p = {.buf = k->node, .elsize = (int)trart_dtype_size(n->type),
	                .host = n->is_output && k->final ? KPLAN_PIECE_OUTPUT : 0, .ndim = n->rank ? n->rank : 1};
	p.shape[0] = p.size[0] = 1;
	for (int d = 0; d < n->rank; d++) {
		p.shape[d] = n->idx[d].size;
		p.start[d] = k->lo[d];
		p.size[d] = k->hi[d] - k->lo[d];
	}
	return p;
}

uint64_t *kplan_gpu_dest(const KplanProgram *kp)
{
	const IaGraph *ia = kp->ia;
	int n = ia->ntasks;
	uint64_t *need = xcalloc((size_t)n + 1, sizeof *need), *dest = xcalloc((size_t)n + 1, sizeof *dest);
	int *order = ia_topo_order(kp->ia);
	for (int j = n - 1; j >= 0; j--) { /* readers first */
		int t = order[j];
		const KplanTask *kt = &kp->tasks[t];
		for (int i = 0; i < kt->nsucc; i++)
			need[t] |= need[kt->succ[i]];
		const IaTask *k = &ia->tasks[t];
		KplanPiece *pc = xcalloc((size_t)ia->ncons[t] + 1, sizeof *pc);
		int npiece = kplan_task_pieces(kp, t, pc);
		free(pc);
		if (npiece == 0)
			continue;
		uint64_t own = (uint64_t)1 << (k->device % ia->ngpus);
		bool input = k->kind == IA_INPUT;
		dest[t] = input ? need[t] : need[t] & ~own;
		need[t] = input ? 0 : own;
	}
	free(order);
	free(need);
	return dest;
}

int64_t kplan_buffer_bytes(const KplanProgram *kp, int b)
{
	if (kp->pooled[b] > 0 || b >= kp->g->nnodes)
		return kp->pooled[b];
	const TraNode *n = &kp->g->nodes[b];
	return tra_node_elements(n) * (int64_t)trart_dtype_size(n->type);
}

/* Join t's partial block, as bytes. */
static KplanPiece kplan_partial_piece(const KplanProgram *kp, int t)
{
	int b = KPLAN_PARTIAL(kp, t);
	KplanPiece pc = {.buf = b, .elsize = 1, .ndim = 1};
	pc.shape[0] = pc.size[0] = kp->pooled[b];
	return pc;
}

int kplan_task_pieces(const KplanProgram *kp, int t, KplanPiece *out)
{
	const IaGraph *ia = kp->ia;
	const IaTask *k = &ia->tasks[t];
	if (k->kind == IA_INPUT && ia->ngpus > 0) {
		out[0] = kplan_block_piece(kp->g, k);
		out[0].host = KPLAN_PIECE_INPUT;
		return 1;
	}
	if (kp->kernels[kp->tasks[t].kernel].kind == KPLAN_NOP)
		return 0;
	if (kp->pooled[KPLAN_PARTIAL(kp, t)] > 0) {
		out[0] = kplan_partial_piece(kp, t);
		return 1;
	}
	int n = 0;
	out[n++] = kplan_block_piece(kp->g, k);
	for (int i = 0; k->rows >= 0 && i < ia->ncons[t]; i++) {
		int c = ia->cons[t][i];
		if (ia->tasks[c].kind != IA_FUSED)
			continue;
		/* a row reducer's fused join: its partial block */
		out[n++] = kp->pooled[KPLAN_PARTIAL(kp, c)] > 0 ? kplan_partial_piece(kp, c)
		                                                : kplan_block_piece(kp->g, &ia->tasks[c]);
	}
	return n;
}
