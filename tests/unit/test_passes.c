/* test_passes.c: Check tests for the TRA passes: algebra_normalise,
 * cse_merge, hoist_invariants, order_contractions, fuse_elementwise and
 * dce_remove, and the driver's table of them.
 *
 * The structural tests compile a program, run one pass, verify the graph
 * and state the result node by node in one line each (node_str below):
 *
 *   "D.c1[j,l] = sum[k] (* B[j,k] C[k,l])"
 *   "H[i,j] = sum[k] (* X[i,k] W[k,j]) then (+ acc (* b[j] 2))"
 *
 * that is the node's output indices, its aggregation and reduced indices,
 * its join, and its epilogue after "then", with expressions as unit.h's
 * prefix strings ("#i" is the value of index i). graph_str lists the
 * nodes' names in order, which shows the node count, what was inserted
 * where, and what was dropped. Contraction orders are checked by hand
 * for chosen shapes, and against the classic matrix-chain dynamic
 * program for random chains.
 *
 * The differential tests run programs (the samples at small sizes,
 * programs written for the passes, and seeded random programs) through
 * the interpreter before and after the passes, in both orders, and
 * require every output to agree within 1e-9, relative to the larger
 * magnitude or 1: fusion computes the same operations in the same order,
 * and contraction order only reassociates sums.
 */
#include "unit.h"

#include <stdint.h>

/* ---- helpers ------------------------------------------------------------------ */

/* Fusion leaves what it inlined dead; dce_remove drops it, as the driver's
 * next pass does. */
static void fuse_then_dce(TraGraph *g)
{
	fuse_elementwise(g);
	dce_remove(g);
}

/* Compiles a valid program and runs pass on its graph, verifying it. */
static UnitRun *after(const char *src, void (*pass)(TraGraph *))
{
	UnitRun *u = unit_compile_ok(src);
	pass(&u->g);
	tra_verify(&u->g);
	return u;
}

/* The names of the graph's nodes, in order, separated by spaces. */
static const char *graph_str(UnitRun *u)
{
	UnitMem m;
	unit_mem_open(&m);
	for (int i = 0; i < u->g.nnodes; i++)
		fprintf(m.f, "%s%s", i ? " " : "", u->g.nodes[i].name);
	const char *t = unit_mem_text(&m);
	const char *s = arena_strndup(&u->arena, t, m.len);
	unit_mem_close(&m);
	return s;
}

/* Node name as one line: "T[i,j] = sum[k] JOIN then EPILOGUE". */
static const char *node_str(UnitRun *u, const char *name)
{
	const TraNode *n = unit_node(&u->g, name);
	UnitMem m;
	unit_mem_open(&m);
	fputs(name, m.f);
	if (n->rank)
		fprintf(m.f, "[%s]", unit_idx_str(u, n, 0, n->rank));
	fputs(" = ", m.f);
	if (n->agg != TRA_AGG_NONE)
		fprintf(m.f, "%s[%s] ", tra_agg_name(n->agg), unit_idx_str(u, n, n->rank, n->nidx));
	fputs(unit_tra_str(u, n, n->join), m.f);
	if (n->epilogue >= 0)
		fprintf(m.f, " then %s", unit_tra_str(u, n, n->epilogue));
	const char *t = unit_mem_text(&m);
	const char *s = arena_strndup(&u->arena, t, m.len);
	unit_mem_close(&m);
	return s;
}

#define assert_node(u, name, want) ck_assert_str_eq(node_str((u), (name)), (want))

/* What order_contractions promises: no sum of a product of more than two operands. */
static void assert_no_long_products(const TraGraph *g)
{
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind == TRA_NODE_EINSUM && n->agg == TRA_AGG_SUM)
			ck_assert_msg(tra_expr_product_operands(g, n->join) <= 2, "node %s still multiplies %d operands",
			              n->name, tra_expr_product_operands(g, n->join));
	}
}

/* What fuse_elementwise promises: every einsum is an output or read. */
static void assert_no_dead_code(const TraGraph *g)
{
	for (int id = 0; id < g->nnodes; id++) {
		bool read = g->nodes[id].is_output || g->nodes[id].kind == TRA_NODE_INPUT;
		for (int c = id + 1; c < g->nnodes && !read; c++)
			for (int k = 0; k < g->nodes[c].nops; k++)
				read |= g->nodes[c].ops[k].node == id;
		ck_assert_msg(read, "node %s is dead", g->nodes[id].name);
	}
}

/* The sum of the flops of every einsum. */
static double total_flops(const TraGraph *g)
{
	double f = 0;
	for (int id = 0; id < g->nnodes; id++)
		f += g->nodes[id].flops;
	return f;
}

/* ---- contraction order: chosen shapes ----------------------------------------- */

START_TEST(order_brief_example)
{
	UnitRun *u = after("size I = 4096, J = 1024, K = 4096, L = 1024\n"
	                   "input A[I, J], B[J, K], C[K, L]\n"
	                   "D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\n"
	                   "output D\n", order_contractions);
	ck_assert_str_eq(graph_str(u), "A B C D.c1 D");
	assert_node(u, "D.c1", "D.c1[j,l] = sum[k] (* B[j,k] C[k,l])");
	assert_node(u, "D", "D[i,l] = sum[j] (* A[i,j] D.c1[j,l])");
	const TraNode *c1 = unit_node(&u->g, "D.c1"), *d = unit_node(&u->g, "D");
	ck_assert_double_eq(c1->flops, 2.0 * 1024 * 4096 * 1024);
	ck_assert_double_eq(d->flops, 2.0 * 4096 * 1024 * 1024);
	ck_assert(d->is_output && !c1->is_output);
	ck_assert_int_eq(u->g.noutputs, 1);
	ck_assert_int_eq(u->g.outputs[0], unit_node_id(&u->g, "D"));
	ck_assert_int_eq(c1->type, TRART_F32);
	ck_assert_int_eq(c1->nops, 2);
	ck_assert_int_eq(d->nops, 2);
	ck_assert_str_eq(c1->idx[0].sname, "J");
	ck_assert_int_eq(c1->idx[1].size, 1024);
	/* the reader of D is unaffected, and a second run changes nothing */
	unit_free(u);
	u = after("size I = 4096, J = 1024, K = 4096, L = 1024\n"
	          "input A[I, J], B[J, K], C[K, L]\n"
	          "D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\n"
	          "E[i, l] = relu(D[i, l])\n"
	          "output E\n", order_contractions);
	order_contractions(&u->g);
	tra_verify(&u->g);
	ck_assert_str_eq(graph_str(u), "A B C D.c1 D E");
	assert_node(u, "E", "E[i,l] = relu(D[i,l])");
	unit_free(u);
}
END_TEST

START_TEST(order_chain_shapes)
{
	/* (10x1000)(1000x10)(10x1000): the left pair first */
	UnitRun *u = after("size P = 10, Q = 1000\ninput A[P, Q], B[Q, P], C[P, Q]\n"
	                   "D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\noutput D\n",
	                   order_contractions);
	assert_node(u, "D.c1", "D.c1[i,k] = sum[j] (* A[i,j] B[j,k])");
	assert_node(u, "D", "D[i,l] = sum[k] (* D.c1[i,k] C[k,l])");
	ck_assert_double_eq(total_flops(&u->g), 2.0 * 10 * 1000 * 10 + 2.0 * 10 * 10 * 1000);
	unit_free(u);
	/* the reverse, (1000x10)(10x1000)(1000x10): the right pair first */
	u = after("size P = 10, Q = 1000\ninput A[Q, P], B[P, Q], C[Q, P]\n"
	          "D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\noutput D\n",
	          order_contractions);
	assert_node(u, "D.c1", "D.c1[j,l] = sum[k] (* B[j,k] C[k,l])");
	assert_node(u, "D", "D[i,l] = sum[j] (* A[i,j] D.c1[j,l])");
	unit_free(u);
	/* (10x1000)(1000x1000)(1000x10) costs the same both ways (2.02e7
	 * flops, 1e4 elements stored): a tie goes left to right */
	u = after("size P = 10, Q = 1000\ninput A[P, Q], B[Q, Q], C[Q, P]\n"
	          "D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\noutput D\n",
	          order_contractions);
	assert_node(u, "D.c1", "D.c1[i,k] = sum[j] (* A[i,j] B[j,k])");
	assert_node(u, "D", "D[i,l] = sum[k] (* D.c1[i,k] C[k,l])");
	ck_assert_double_eq(total_flops(&u->g), 2.0 * 10 * 1000 * 1000 + 2.0 * 10 * 1000 * 10);
	unit_free(u);
}
END_TEST

START_TEST(order_four_chain)
{
	/* dims 10, 100, 5, 100, 10: (A B)(C D) beats every sequential order */
	UnitRun *u = after("size P = 10, Q = 100, R = 5\n"
	                   "input A[P, Q], B[Q, R], C[R, Q], D[Q, P]\n"
	                   "Y[i, m] = sum[j, k, l](A[i, j] * B[j, k] * C[k, l] * D[l, m])\n"
	                   "output Y\n", order_contractions);
	ck_assert_str_eq(graph_str(u), "A B C D Y.c1 Y.c2 Y");
	assert_node(u, "Y.c1", "Y.c1[i,k] = sum[j] (* A[i,j] B[j,k])");
	assert_node(u, "Y.c2", "Y.c2[k,m] = sum[l] (* C[k,l] D[l,m])");
	assert_node(u, "Y", "Y[i,m] = sum[k] (* Y.c1[i,k] Y.c2[k,m])");
	ck_assert_double_eq(total_flops(&u->g), 2.0 * (5000 + 5000 + 500));
	unit_free(u);
	/* samples/chain.tra's shapes: 4096x1024, 1024x4096, 4096x256,
	 * 256x1024; B C first, then A (B C), then (A (B C)) D: 2.1e9 flops
	 * each, where left to right costs 4.3e10 */
	u = after("size M = 4096, P = 1024, Q = 4096, R = 256, N = 1024\n"
	          "input A[M, P], B[P, Q], C[Q, R], D[R, N]\n"
	          "Y[i, m] = sum[j, k, l](A[i, j] * B[j, k] * C[k, l] * D[l, m])\n"
	          "output Y\n", order_contractions);
	ck_assert_str_eq(graph_str(u), "A B C D Y.c1 Y.c2 Y");
	assert_node(u, "Y.c1", "Y.c1[j,l] = sum[k] (* B[j,k] C[k,l])");
	assert_node(u, "Y.c2", "Y.c2[i,l] = sum[j] (* A[i,j] Y.c1[j,l])");
	assert_node(u, "Y", "Y[i,m] = sum[l] (* Y.c2[i,l] D[l,m])");
	ck_assert_double_eq(total_flops(&u->g), 3 * 2.0 * 1024 * 4096 * 256);
	unit_free(u);
}
END_TEST

START_TEST(order_batch_index)
{
	/* a batch index b stays in every intermediate, as an output index */
	UnitRun *u = after("size B = 4, S = 64, D = 8\n"
	                   "input Q[B, S, D], K[B, S, D], V[B, S, D]\n"
	                   "O[b, s, e] = sum[d, t](Q[b, s, d] * K[b, t, d] * V[b, t, e])\n"
	                   "output O\n", order_contractions);
	/* K^T V first: 2*4*64*8*8 + 2*4*64*8*8, where Q K^T first costs
	 * 2*4*64*64*8 twice */
	ck_assert_str_eq(graph_str(u), "Q K V O.c1 O");
	assert_node(u, "O.c1", "O.c1[b,d,e] = sum[t] (* K[b,t,d] V[b,t,e])");
	assert_node(u, "O", "O[b,s,e] = sum[d] (* Q[b,s,d] O.c1[b,d,e])");
	unit_free(u);
}
END_TEST

START_TEST(order_single_reader_index)
{
	/* l is read by C alone: C is summed over it first (2*42 flops),
	 * which pays, since B C would cost 2*210 with l in the space */
	UnitRun *u = after("size I = 4, J = 5, K = 6, L = 7\n"
	                   "input A[I, J], B[J, K], C[K, L]\n"
	                   "D[i] = sum[j, k, l](A[i, j] * B[j, k] * C[k, l])\noutput D\n",
	                   order_contractions);
	ck_assert_str_eq(graph_str(u), "A B C D.c1 D.c2 D");
	assert_node(u, "D.c1", "D.c1[k] = sum[l] C[k,l]");
	assert_node(u, "D.c2", "D.c2[j] = sum[k] (* B[j,k] D.c1[k])");
	assert_node(u, "D", "D[i] = sum[j] (* A[i,j] D.c2[j])");
	unit_free(u);
	/* a full contraction to a scalar, the trace of A B C: B C first
	 * (2*120 flops, then 2*20), where A B first costs 2*120 + 2*24 */
	u = after("size I = 4, J = 5, K = 6\ninput A[I, J], B[J, K], C[K, I]\n"
	          "t = sum[i, j, k](A[i, j] * B[j, k] * C[k, i])\noutput t\n", order_contractions);
	assert_node(u, "t.c1", "t.c1[j,i] = sum[k] (* B[j,k] C[k,i])");
	assert_node(u, "t", "t = sum[i,j] (* A[i,j] t.c1[j,i])");
	unit_free(u);
}
END_TEST

START_TEST(order_constants_and_epilogues)
{
	/* constant factors become one scale on acc; the epilogue and its
	 * operands stay with the last step */
	UnitRun *u = after("size I = 2, J = 3, K = 4, L = 5\n"
	                   "input A[I, J], B[J, K], C[K, L], b[L]\n"
	                   "D[i, l] = relu(sum[j, k](2 * A[i, j] * B[j, k] * 0.5 * C[k, l] * 3) + b[l])\n"
	                   "output D\n", order_contractions);
	ck_assert_str_eq(graph_str(u), "A B C b D.c1 D");
	assert_node(u, "D.c1", "D.c1[i,k] = sum[j] (* A[i,j] B[j,k])");
	assert_node(u, "D", "D[i,l] = sum[k] (* D.c1[i,k] C[k,l]) then relu((+ (* acc 3) b[l]))");
	unit_free(u);
	/* without an epilogue, the scale is one; mean keeps its division */
	u = after("size I = 2, J = 3, K = 4\ninput A[I, J], B[J, K], v[K]\n"
	          "S[i] = sum[j, k](A[i, j] * 4 * B[j, k] * v[k])\n"
	          "m[i] = mean[j, k](A[i, j] * B[j, k] * v[k])\n"
	          "output S, m\n", order_contractions);
	assert_node(u, "S.c1", "S.c1[j] = sum[k] (* B[j,k] v[k])");
	assert_node(u, "S", "S[i] = sum[j] (* A[i,j] S.c1[j]) then (* acc 4)");
	assert_node(u, "m", "m[i] = sum[j] (* A[i,j] m.c1[j]) then (/ acc 12)");
	unit_free(u);
}
END_TEST

START_TEST(order_maps_and_repeats)
{
	/* A summed over l alone (2*10 flops), an outer product with v (6),
	 * then with w (24), where A v first would cost 2*30: a last step that
	 * sums nothing is a map, its epilogue applied to the product and the
	 * constant folded in as a scale */
	UnitRun *u = after("size I = 2, J = 3, K = 4, L = 5\ninput A[I, L], v[J], w[K], b[K], u[L]\n"
	                   "D[i, j, k] = tanh(sum[l](A[i, l] * v[j] * w[k] * 2)) + b[k]\n"
	                   "R[i] = sum[l](A[i, l] * A[i, l] * u[l])\n"
	                   "output D, R\n", order_contractions);
	ck_assert_str_eq(graph_str(u), "A v w b u D.c1 D.c2 D R.c1 R");
	assert_node(u, "D.c1", "D.c1[i] = sum[l] A[i,l]");
	assert_node(u, "D.c2", "D.c2[i,j] = (* D.c1[i] v[j])");
	assert_node(u, "D", "D[i,j,k] = (+ tanh((* (* D.c2[i,j] w[k]) 2)) b[k])");
	/* A A and A u cost the same (an element-wise product, then a sum):
	 * as written wins; the operand read twice is one operand */
	assert_node(u, "R.c1", "R.c1[i,l] = (* A[i,l] A[i,l])");
	assert_node(u, "R", "R[i] = sum[l] (* R.c1[i,l] u[l])");
	ck_assert_int_eq(unit_node(&u->g, "R.c1")->nops, 1);
	unit_free(u);
}
END_TEST

START_TEST(order_leaves_others_alone)
{
	static const char src[] =
		"size I = 2, J = 3, K = 4\ninput A[I, J], B[J, K], C[K, I], v[J]\n"
		"E[i] = sum[j, k](exp(A[i, j]) * B[j, k] * C[k, i])\n"
		"M[i] = max[j, k](A[i, j] * B[j, k] * C[k, i])\n"
		"P[i] = prod[j, k](A[i, j] * B[j, k] * C[k, i])\n"
		"G[i, k] = sum[j](A[i, j] * B[j, k])\n"
		"X[i] = sum[j, k](A[i, j] * B[j, k] * C[k, i] * j)\n"
		"N[i] = sum[j, k](-A[i, j] * B[j, k] * C[k, i])\n"
		"H[i, j, k] = A[i, j] * B[j, k] * C[k, i]\n"
		"output E, M, P, G, X, N, H\n";
	UnitRun *before = unit_compile_ok(src);
	UnitRun *u = after(src, order_contractions);
	ck_assert_str_eq(graph_str(u), graph_str(before));
	static const char *const names[] = {"E", "M", "P", "G", "X", "N", "H"};
	for (int i = 0; i < 7; i++)
		ck_assert_str_eq(node_str(u, names[i]), node_str(before, names[i]));
	unit_free(u);
	unit_free(before);
}
END_TEST

/* ---- contraction order: random chains against the matrix-chain DP ------------ */

/* The least multiply-adds to compute a chain of matrices with dims d[0..n]. */
static double matrix_chain_cost(const int *d, int n)
{
	double c[32][32];
	for (int len = 1; len <= n; len++)
		for (int i = 0; i + len <= n; i++) {
			int j = i + len - 1;
			c[i][j] = len == 1 ? 0 : INFINITY;
			for (int k = i; k < j; k++)
				c[i][j] = fmin(c[i][j], c[i][k] + c[k + 1][j] + (double)d[i] * d[k + 1] * d[j + 1]);
		}
	return c[0][n - 1];
}

/* A program computing the chain of n matrices with dims d[0..n]. */
static char *chain_program(const int *d, int n)
{
	UnitMem m;
	unit_mem_open(&m);
	fputs("size ", m.f);
	for (int i = 0; i <= n; i++)
		fprintf(m.f, "%sS%d = %d", i ? ", " : "", i, d[i]);
	fputs("\ninput ", m.f);
	for (int i = 0; i < n; i++)
		fprintf(m.f, "%sM%d[S%d, S%d] f64", i ? ", " : "", i, i, i + 1);
	fprintf(m.f, "\nY[a0, a%d] = sum[", n);
	for (int i = 1; i < n; i++)
		fprintf(m.f, "%sa%d", i > 1 ? ", " : "", i);
	fputs("](", m.f);
	for (int i = 0; i < n; i++)
		fprintf(m.f, "%sM%d[a%d, a%d]", i ? " * " : "", i, i, i + 1);
	fputs(")\noutput Y\n", m.f);
	fflush(m.f);
	char *s = strdup(m.buf);
	unit_mem_close(&m);
	return s;
}

START_TEST(order_exhaustive_to_sixteen)
{
	/* dims 4 4 2 2 2 16 16 4 2 4: nine matrices, and the nine above
	 * (16 16 16 16 2 4 12 16 16 16), are searched exhaustively: the
	 * optimum, where the greedy search took 3504 flops on the first */
	static const int d[] = {4, 4, 2, 2, 2, 16, 16, 4, 2, 4};
	static const int e[] = {16, 16, 16, 16, 2, 4, 12, 16, 16, 16};
	char *src = chain_program(d, 9);
	UnitRun *u = after(src, order_contractions);
	ck_assert_double_eq(total_flops(&u->g), 1504);
	ck_assert_double_eq(2 * matrix_chain_cost(d, 9), 1504);
	unit_free(u);
	free(src);
	src = chain_program(e, 9);
	u = after(src, order_contractions);
	ck_assert_int_eq(u->g.nnodes, 9 + 8);
	ck_assert_double_eq(total_flops(&u->g), 2 * matrix_chain_cost(e, 9));
	unit_free(u);
	free(src);
}
END_TEST

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005u + 1442695040888963407u;
	return *s >> 33;
}

START_TEST(order_matches_matrix_chain)
{
	/* the exhaustive search over subsets finds the optimal chain order */
	uint64_t st = 77;
	for (int trial = 0; trial < 200; trial++) {
		int n = 3 + (int)(rng_next(&st) % 6), d[16];
		for (int i = 0; i <= n; i++)
			d[i] = 1 + (int)(rng_next(&st) % 64);
		char *src = chain_program(d, n);
		UnitRun *u = after(src, order_contractions);
		ck_assert_int_eq(u->g.nnodes, n + n - 1);
		ck_assert_msg(total_flops(&u->g) == 2 * matrix_chain_cost(d, n),
		              "flops %g, optimal %g, for:\n%s", total_flops(&u->g),
		              2 * matrix_chain_cost(d, n), src);
		unit_free(u);
		free(src);
	}
}
END_TEST

/* ---- fusion -------------------------------------------------------------------------- */

START_TEST(fuse_chain_of_maps)
{
	UnitRun *u = after("size N = 4\ninput X[N]\n"
	                   "A[i] = X[i] * 2\nB[i] = exp(A[i])\nC[i] = B[i] + 1\noutput C\n",
	                   fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X C");
	assert_node(u, "C", "C[i] = (+ exp((* X[i] 2)) 1)");
	const TraNode *c = unit_node(&u->g, "C");
	ck_assert_int_eq(c->nops, 1);
	ck_assert_int_eq(c->ops[0].node, 0);
	ck_assert_double_eq(c->flops, 4.0 * (1 + 4 + 1));
	ck_assert(c->is_output);
	ck_assert_int_eq(u->g.outputs[0], 1);
	unit_free(u);
}
END_TEST

START_TEST(fuse_reindexes)
{
	/* P's indices become the reader's subscripts: transposed, with index
	 * values, and on a diagonal */
	UnitRun *u = after("size N = 3\ninput X[N, N], Y[N, N]\n"
	                   "P[a, b] = X[a, b] * a + b\nC[i, j] = P[j, i] * Y[i, j]\n"
	                   "Q[a, b] = X[b, a] - a\nD[i] = Q[i, i]\n"
	                   "output C, D\n", fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X Y C D");
	assert_node(u, "C", "C[i,j] = (* (+ (* X[j,i] #j) #i) Y[i,j])");
	assert_node(u, "D", "D[i] = (- X[i,i] #i)");
	unit_free(u);
}
END_TEST

START_TEST(fuse_into_reductions)
{
	/* into a reduction's join, and into a contraction's epilogue */
	UnitRun *u = after("size N = 3, K = 4\ninput X[N, K], W[K, K], Z[N, K]\n"
	                   "E[i, k] = exp(X[i, k])\nS[i] = sum[k](E[i, k])\n"
	                   "Bi[i, j] = Z[i, j] * 2\nH[i, j] = sum[k](X[i, k] * W[k, j]) + Bi[i, j]\n"
	                   "output S, H\n", fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X W Z S H");
	assert_node(u, "S", "S[i] = sum[k] exp(X[i,k])");
	assert_node(u, "H", "H[i,j] = sum[k] (* X[i,k] W[k,j]) then (+ acc (* Z[i,j] 2))");
	unit_free(u);
}
END_TEST

/* Fusion leaves src's graph as sema made it, but for dropping what no
 * output reads: nodes, its nodes' names in order. */
static void assert_fuse_keeps(const char *src, const char *nodes)
{
	UnitRun *before = unit_compile_ok(src);
	UnitRun *u = after(src, fuse_then_dce);
	ck_assert_str_eq(graph_str(u), nodes);
	for (int i = 0; i < u->g.nnodes; i++)
		ck_assert_str_eq(node_str(u, u->g.nodes[i].name), node_str(before, u->g.nodes[i].name));
	unit_free(u);
	unit_free(before);
}

START_TEST(fuse_absorbs_aggregations)
{
	UnitRun *u = after("size N = 3, K = 4, C = 2\ninput X[N, K], W[K, C], b[C], Y[N, K]\n"
	                   /* a map of a GEMM: the GEMM, then the map */
	                   "Z[i, c] = sum[k](X[i, k] * W[k, c])\nA[i, c] = relu(Z[i, c] + b[c])\n"
	                   /* a sum with an epilogue of its own, read twice */
	                   "m[i] = sum[k](Y[i, k]) / 4\nS[i] = m[i] * sigmoid(m[i])\n"
	                   /* a chain: the first map, read at fewer indices than its
	                      reader's, cannot be inlined; it takes the max in */
	                   "Mx[i] = max[k](Y[i, k])\nL[i] = exp(Mx[i])\nT[i, k] = Y[i, k] * L[i]\n"
	                   "output A, S, T\n", fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X W b Y A S L T");
	assert_node(u, "A", "A[i,c] = sum[k] (* X[i,k] W[k,c]) then relu((+ acc b[c]))");
	assert_node(u, "S", "S[i] = sum[k] Y[i,k] then (* (/ acc 4) sigmoid((/ acc 4)))");
	assert_node(u, "L", "L[i] = max[k] Y[i,k] then exp(acc)");
	unit_free(u);
	/* not when the aggregation is an output, read transposed, or by two */
	static const char src[] =
		"size N = 3, K = 4\ninput Y[N, K], Q[N, N]\n"
		"O[i] = sum[k](Y[i, k])\nP[i] = O[i] + 1\n"
		"G[i, j] = sum[k](Q[i, k] * Q[k, j])\nH[i, j] = G[j, i] * 2\n"
		"D[i] = max[k](Y[i, k])\nE1[i] = D[i] * 2\nE2[i] = D[i] - 1\n"
		"output O, P, H, E1, E2\n";
	assert_fuse_keeps(src, "Y Q O P G H D E1 E2");
}
END_TEST

/* Runs every pass of the driver's table, verifying after each. */
static void all_passes(TraGraph *g)
{
	for (int i = 0; i < driver_npasses; i++) {
		driver_passes[i].run(g);
		tra_verify(g);
	}
}

/* A statement --partition names (pinned) stays a node through every
 * pass: not absorbed (Z), inlined (P), replaced by its twin (T2) or read
 * through as a copy (Cp); unpinned, each is gone (and T1, T2's twin and
 * not pinned, is inlined into R either way). */
START_TEST(passes_keep_pinned)
{
	static const char src[] =
		"size N = 3, K = 4, C = 2\ninput X[N, K], W[K, C], b[C], x[N], y[N], Q[N, N]\n"
		"Z[i, c] = sum[k](X[i, k] * W[k, c])\nA[i, c] = relu(Z[i, c] + b[c])\n"
		"P[i] = x[i] * y[i]\nB[i] = exp(P[i]) + x[i]\n"
		"T1[i] = x[i] * y[i] + 1\nT2[i] = y[i] * x[i] + 1\nR[i] = T1[i] * T2[i]\n"
		"Cp[i, j] = Q[j, i]\nS[i] = sum[j](Cp[i, j])\n"
		"output A, B, R, S\n";
	const char *pins[] = {"Z:i=2", "P:i=3", "T2:i=1", "Cp:j=3"};
	UnitRun *u = after(src, all_passes);
	ck_assert_str_eq(graph_str(u), "X W b x y Q A B R S");
	unit_free(u);
	u = unit_compile_ok(src);
	for (int k = 0; k < 4; k++)
		decomp_pin_manual(&u->g, pins[k]);
	all_passes(&u->g);
	assert_node(u, "Z", "Z[i,c] = sum[k] (* X[i,k] W[k,c])");
	assert_node(u, "A", "A[i,c] = relu((+ Z[i,c] b[c]))");
	ck_assert_str_eq(graph_str(u), "X W b x y Q Z A P B T2 R Cp S");
	unit_free(u);
}
END_TEST

START_TEST(fuse_deduplicates_operands)
{
	/* P reads X as C does: one operand of C, read twice */
	UnitRun *u = after("size N = 3\ninput X[N], Y[N]\n"
	                   "P[i] = X[i] * Y[i]\nC[i] = P[i] + X[i]\noutput C\n", fuse_then_dce);
	assert_node(u, "C", "C[i] = (+ (* X[i] Y[i]) X[i])");
	ck_assert_int_eq(unit_node(&u->g, "C")->nops, 2);
	unit_free(u);
}
END_TEST

START_TEST(fuse_non_cases)
{
	static const char src[] =
		"size N = 3, M = 4, C = 2\ninput X[N, M], Y[N, M], W[M, C], v[N], alpha, Sq[N, N], b[C]\n"
		/* two readers */
		"E[i, j] = exp(X[i, j])\nR1[i, j] = E[i, j] + 1\nR2[i] = sum[j](E[i, j])\n"
		/* partial coverage: p[i] in a join over i, j */
		"p[i] = v[i] * 2\nR3[i, j] = p[i] + Y[i, j]\n"
		/* a GEMM's join */
		"Hd[i, j] = relu(X[i, j])\nR4[i, c] = sum[k](Hd[i, k] * W[k, c])\n"
		/* an output */
		"O[i, j] = X[i, j] * 3\nR5[i, j] = O[i, j] - 1\n"
		/* read through two operands; or in the join and the epilogue */
		"U[i, j] = Sq[i, j] / 2\nR7[i, j] = U[i, j] + U[j, i]\n"
		"T[i] = v[i] / 2\nR6[i] = sum[j](T[i] * X[i, j]) * T[i]\n"
		/* partial coverage in an epilogue: b2[c] for every i */
		"b2[c] = b[c] * 2\nR11[i, c] = sum[k](X[i, k] * W[k, c]) + b2[c]\n"
		/* not a map, read at fewer indices than its reader's (absorbing
		   it would recompute it per j) */
		"Mx[i] = max[j](X[i, j])\nR8[i, j] = Mx[i] + Y[i, j]\n"
		/* a scalar read at every i: it would be recomputed N times */
		"sc = alpha * 2\nR9[i] = sc * v[i]\n"
		"Z[i] = v[i] - 1\nR10[i] = Z[i] * 2\n"
		"output R1, R2, R3, R4, O, R5, R6, R7, R11, R8, R9\n";
	/* nothing fuses; Z and R10, read by no output, are dropped */
	assert_fuse_keeps(src, "X Y W v alpha Sq b E R1 R2 p R3 Hd R4 O R5 U R7 T R6 b2 R11 Mx R8 sc R9");
}
END_TEST

START_TEST(fuse_samples_mlp_softmax)
{
	/* LANGUAGE.md's perceptron: Hd feeds a GEMM, Y and E two readers
	 * each; nothing fuses */
	static const char mlp[] =
		"size N = 8, D = 4, H = 6, C = 3\ninput X[N, D], W1[D, H], b1[H], W2[H, C]\n"
		"Hd[i, j] = relu(sum[k](X[i, k] * W1[k, j]) + b1[j])\n"
		"Y[i, c]  = sum[k](Hd[i, k] * W2[k, c])\n"
		"M[i]     = max[c](Y[i, c])\n"
		"E[i, c]  = exp(Y[i, c] - M[i])\n"
		"P[i, c]  = E[i, c] / sum[c2](E[i, c2])\n"
		"output P\n";
	UnitRun *u = after(mlp, fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X W1 b1 W2 Hd Y M E P.r1 P");
	unit_free(u);
	/* a separate activation before the GEMM stays stored */
	u = after("size N = 8, D = 4, C = 3\ninput H[N, D], W[D, C]\n"
	          "Hd[i, j] = relu(H[i, j])\nY[i, c] = sum[k](Hd[i, k] * W[k, c])\noutput Y\n",
	          fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "H W Hd Y");
	unit_free(u);
}
END_TEST

START_TEST(fuse_dead_code)
{
	/* dead einsums go, with what only they read; inputs stay */
	UnitRun *u = after("size N = 3\ninput X[N], Z[N]\n"
	                   "A[i] = X[i] + 1\nB = sum[i](A[i])\nU[i] = X[i] * 3\n"
	                   "output B\n", fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X Z B");
	assert_node(u, "B", "B = sum[i] (+ X[i] 1)");
	ck_assert_int_eq(u->g.outputs[0], 2);
	unit_free(u);
	/* an input that is an output, and an output read by another */
	u = after("size N = 3\ninput X[N]\nA[i] = X[i] + 1\nB[i] = A[i] * 2\noutput X, A, B\n",
	          fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X A B");
	ck_assert_int_eq(u->g.outputs[0], 0);
	ck_assert_int_eq(u->g.outputs[1], 1);
	ck_assert_int_eq(u->g.outputs[2], 2);
	unit_free(u);
}
END_TEST

START_TEST(fuse_scalars)
{
	UnitRun *u = after("input alpha, beta\nc = alpha * 2\nd = exp(c) + beta\noutput d\n",
	                   fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "alpha beta d");
	assert_node(u, "d", "d = (+ exp((* alpha 2)) beta)");
	unit_free(u);
}
END_TEST

/* ---- differential tests ------------------------------------------------------------ */

/* Deterministic values in [-1, 1). */
static double lcg(uint64_t *state)
{
	*state = *state * 6364136223846793005u + 1442695040888963407u;
	return (double)(*state >> 11) / (double)(1ull << 53) * 2 - 1;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

/* The outputs' values on inputs seeded by seed and each input's name (so
 * that they do not depend on node numbers), in g->outputs order. */
static double **eval_outputs(const TraGraph *g, uint64_t seed)
{
	InterpValues v;
	interp_values_init(&v, g);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_INPUT)
			continue;
		uint64_t st = seed ^ name_hash(n->name);
		size_t m = (size_t)tra_node_elements(n);
		v.data[id] = malloc(m * sizeof(double));
		for (size_t k = 0; k < m; k++)
			v.data[id][k] = lcg(&st);
	}
	interp_run(g, &v);
	double **out = calloc((size_t)g->noutputs + 1, sizeof *out);
	for (int i = 0; i < g->noutputs; i++) {
		size_t m = (size_t)tra_node_elements(&g->nodes[g->outputs[i]]);
		out[i] = malloc(m * sizeof(double));
		memcpy(out[i], v.data[g->outputs[i]], m * sizeof(double));
	}
	interp_values_free(&v);
	return out;
}

static void free_outputs(double **out, int n)
{
	for (int i = 0; i < n; i++)
		free(out[i]);
	free(out);
}

/* Whether a and b agree to 1e-9 relative to the larger or 1. */
static bool agree(double a, double b)
{
	if (a == b || (isnan(a) && isnan(b)))
		return true;
	return fabs(a - b) <= 1e-9 * fmax(1, fmax(fabs(a), fabs(b)));
}

static void compare_outputs(const TraGraph *g, double **want, double **got, const char *what,
                            const char *src)
{
	for (int i = 0; i < g->noutputs; i++) {
		const TraNode *n = &g->nodes[g->outputs[i]];
		for (int64_t e = 0; e < tra_node_elements(n); e++)
			ck_assert_msg(agree(want[i][e], got[i][e]), "%s: %s[%lld] = %.17g, before %.17g, for:\n%s",
			              what, n->name, (long long)e, got[i][e], want[i][e], src);
	}
}

/* What a differential run saw, so tests can ask that it reached the cases. */
typedef struct DiffStats {
	int programs;
	int split;   /* programs in which order_contractions added a node */
	int fused;   /* programs in which fuse_elementwise inlined a node */
	int hoisted; /* programs in which hoist_invariants made a node */
	int merged;  /* programs in which the first cse_merge merged a node */
} DiffStats;

/* Einsums the outputs depend on. */
static int live_einsums(const TraGraph *g)
{
	bool *live = calloc((size_t)g->nnodes + 1, sizeof *live);
	int n = 0;
	for (int i = 0; i < g->noutputs; i++)
		live[g->outputs[i]] = true;
	for (int id = g->nnodes - 1; id >= 0; id--) {
		if (!live[id])
			continue;
		n += g->nodes[id].kind == TRA_NODE_EINSUM;
		for (int k = 0; k < g->nodes[id].nops; k++)
			live[g->nodes[id].ops[k].node] = true;
	}
	free(live);
	return n;
}

/* Runs src (with overrides) through both passes in the order given by
 * order_first, checking the graph and the values after each. */
static void diff_one(const char *src, SizeOverride *ov, int nov, bool order_first, DiffStats *st)
{
	UnitRun *u = unit_compile_ov(src, ov, nov);
	ck_assert_msg(u->nerrors == 0, "errors in:\n%s\n%s", src, unit_diag(u));
	tra_verify(&u->g);
	uint64_t seed = name_hash(src);
	double **want = eval_outputs(&u->g, seed);
	for (int step = 0; step < 2; step++) {
		bool order = (step == 0) == order_first;
		int before = u->g.nnodes, live = live_einsums(&u->g);
		if (order)
			order_contractions(&u->g);
		else
			fuse_then_dce(&u->g);
		tra_verify(&u->g);
		if (order_first) {
			st->split += order && u->g.nnodes > before;
			st->fused += !order && live_einsums(&u->g) < live;
		}
		double **got = eval_outputs(&u->g, seed);
		compare_outputs(&u->g, want, got, order ? "after order_contractions" : "after fuse_elementwise",
		                src);
		free_outputs(got, u->g.noutputs);
	}
	assert_no_long_products(&u->g);
	assert_no_dead_code(&u->g);
	free_outputs(want, u->g.noutputs);
	unit_free(u);
}

/* Runs src through every pass of the driver's table, checking the graph
 * and the values after each, and what the last ones promise. */
static void diff_pipeline(const char *src, SizeOverride *ov, int nov, DiffStats *st)
{
	UnitRun *u = unit_compile_ov(src, ov, nov);
	uint64_t seed = name_hash(src);
	double **want = eval_outputs(&u->g, seed);
	for (int i = 0; i < driver_npasses; i++) {
		int before = u->g.nnodes, live = live_einsums(&u->g);
		driver_passes[i].run(&u->g);
		tra_verify(&u->g);
		if (strcmp(driver_passes[i].name, "hoist") == 0)
			st->hoisted += u->g.nnodes > before;
		if (strcmp(driver_passes[i].name, "cse") == 0)
			st->merged += live_einsums(&u->g) < live;
		double **got = eval_outputs(&u->g, seed);
		compare_outputs(&u->g, want, got, driver_passes[i].name, src);
		free_outputs(got, u->g.noutputs);
	}
	assert_no_long_products(&u->g);
	assert_no_dead_code(&u->g);
	free_outputs(want, u->g.noutputs);
	unit_free(u);
}

static void diff_check(const char *src, SizeOverride *ov, int nov, DiffStats *st)
{
	diff_one(src, ov, nov, true, st);
	diff_one(src, ov, nov, false, st);
	diff_pipeline(src, ov, nov, st);
	st->programs++;
}

/* Programs written for the passes: contractions of every shape, chains
 * of maps, and the cases that must not change. */
static const char *const hand_programs[] = {
	/* contraction chains */
	"size I = 4, J = 5, K = 6, L = 3\ninput A[I, J] f64, B[J, K] f64, C[K, L] f64\n"
	"D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\noutput D\n",
	"size M = 5, P = 3, Q = 6, R = 2, N = 4\ninput A[M, P], B[P, Q], C[Q, R], D[R, N]\n"
	"Y[i, m] = sum[j, k, l](A[i, j] * B[j, k] * C[k, l] * D[l, m])\noutput Y\n",
	"size B = 2, S = 4, D = 3\ninput Q[B, S, D] f64, K[B, S, D] f64, V[B, S, D] f64\n"
	"O[b, s, e] = sum[d, t](Q[b, s, d] * K[b, t, d] * V[b, t, e])\noutput O\n",
	"size I = 2, J = 3, K = 4, L = 5\ninput A[I, J] f64, B[J, K] f64, C[K, L] f64, b[L] f64\n"
	"D[i, l] = relu(sum[j, k](2 * A[i, j] * B[j, k] * 0.5 * C[k, l] * 3) + b[l])\noutput D\n",
	"size I = 2, J = 3, K = 4\ninput A[I, J] f64, B[J, K] f64, s f64\n"
	"D[i] = sum[j, k](s * A[i, j] * B[j, k])\noutput D\n",
	"size I = 3, J = 4\ninput A[I, J] f64, v[J] f64\n"
	"D[i] = sum[j](A[i, j] * A[i, j] * v[j])\noutput D\n",
	"size I = 4, J = 5, K = 6, L = 7\ninput A[I, J] f64, B[J, K] f64, C[K, L] f64, C2[K, I] f64\n"
	"D[i] = sum[j, k, l](A[i, j] * B[j, k] * C[k, l])\n"
	"t = sum[i, j, k](A[i, j] * B[j, k] * C2[k, i])\noutput D, t\n",
	"size I = 2, J = 3, K = 4, L = 5\ninput A[I, L] f64, v[J] f64, w[K] f64, b[K] f64\n"
	"D[i, j, k] = tanh(sum[l](A[i, l] * v[j] * w[k] * 2)) + b[k]\noutput D\n",
	"size I = 2, J = 3, K = 4\ninput A[I, J] f64, B[J, K] f64, v[K] f64\n"
	"m[i] = mean[j, k](A[i, j] * B[j, k] * v[k])\n"
	"x[i] = max[j, k](A[i, j] * B[j, k] * v[k])\n"
	"e[i] = sum[j, k](exp(A[i, j]) * B[j, k] * v[k])\noutput m, x, e\n",
	"size A = 3, B = 2, C = 4, D = 3\n"
	"input M0[A, A] f64, M1[A, A] f64, M2[A, A] f64, M3[A, B] f64, M4[B, C] f64, M5[C, D] f64,"
	" M6[D, A] f64, M7[A, A] f64, M8[A, A] f64, M9[A, B] f64\n"
	"Y[a0, a10] = sum[a1, a2, a3, a4, a5, a6, a7, a8, a9](M0[a0, a1] * M1[a1, a2] * M2[a2, a3] *"
	" M3[a3, a4] * M4[a4, a5] * M5[a5, a6] * M6[a6, a7] * M7[a7, a8] * M8[a8, a9] * M9[a9, a10])\n"
	"output Y\n",
	"size N = 3, M = 4\ninput A[N, M] f64, B[M, N] f64, v[N] f64, w[M] f64\n"
	"Y[i] = sum[j, k, l, m](A[i, j] * B[j, k] * v[k] * w[j] * A[k, l] * w[l] * B[m, i] * v[i] * 0.5 *"
	" A[i, m] * w[m])\noutput Y\n",
	"size N = 3, M = 2\ninput A[N, M, N] f64, B[M, N] f64, C[N, N] f64\n"
	"T[i, j] = sum[k, l, m](A[i, k, l] * B[k, m] * C[m, j] * C[l, i])\noutput T\n",
	/* element-wise chains */
	"size N = 5\ninput X[N] f64\nA[i] = X[i] * 2\nB[i] = exp(A[i])\nC[i] = B[i] + 1\noutput C\n",
	"size N = 3\ninput X[N, N] f64, Y[N, N] f64\nP[a, b] = X[a, b] * a + b\n"
	"C[i, j] = P[j, i] * Y[i, j]\nQ[a, b] = X[b, a] - a\nD[i] = Q[i, i]\noutput C, D\n",
	"size N = 3, K = 4\ninput X[N, K] f64, W[K, K] f64, b[K] f64\nE[i, k] = exp(X[i, k])\n"
	"S[i] = sum[k](E[i, k])\nB2[j] = b[j] * 2\nH[i, j] = sum[k](X[i, k] * W[k, j]) + B2[j]\n"
	"output S, H\n",
	"size N = 4\ninput X[N] f64, Y[N] f64\nP[i] = X[i] * Y[i]\nQ[i] = sigmoid(P[i]) - X[i]\n"
	"R[i] = select(Q[i] < 0, -Q[i], Q[i] * 2)\nS[i] = max(R[i], Y[i])\nT = sum[i](S[i])\noutput T\n",
	"size N = 4\ninput A[N, N] f64\nL[i, j] = select(j <= i, A[i, j], -inf)\n"
	"M[i] = max[j](L[i, j])\nE[i, j] = exp(L[i, j] - M[i])\nP[i, j] = E[i, j] / sum[k](E[i, k])\n"
	"output P\n",
	"input alpha f64, beta f64\nc = alpha * 2\nd = exp(c) + beta\ne = d * d\noutput e\n",
	"size N = 3\ninput X[N] f64, Z[N] f64\nA[i] = X[i] + 1\nB = sum[i](A[i])\nU[i] = X[i] * 3\n"
	"output B\n",
	"size N = 3\ninput X[N] f64\nA[i] = X[i] + 1\nB[i] = A[i] * 2\nC[i] = B[i] - A[i]\noutput X, B, C\n",
	"size N = 3, M = 4, C = 2\ninput X[N, M] f64, Y[N, M] f64, W[M, C] f64, v[N] f64, alpha f64\n"
	"E[i, j] = exp(X[i, j])\nR1[i, j] = E[i, j] + 1\nR2[i] = sum[j](E[i, j])\n"
	"p[i] = v[i] * 2\nR3[i, j] = p[i] + Y[i, j]\nHd[i, j] = relu(X[i, j])\n"
	"R4[i, c] = sum[k](Hd[i, k] * W[k, c])\nO[i, j] = X[i, j] * 3\nR5[i, j] = O[i, j] - 1\n"
	"T[i, j] = X[i, j] / 2\nR6[i, j] = T[i, j] * T[i, j]\nsc = alpha * 2\nR9[i] = sc * v[i]\n"
	"output R1, R2, R3, R4, O, R5, R6, R9\n",
	/* both passes at work */
	"size N = 3, D = 4, H = 5\ninput X[N, D] f64, W1[D, H] f64, W2[H, D] f64, g[D] f64\n"
	"Xs[i, d] = X[i, d] * g[d]\nT[i, e] = sum[d, h](Xs[i, d] * W1[d, h] * W2[h, e] * g[e])\n"
	"U[i, e] = tanh(T[i, e])\nV[i] = sum[e](U[i, e]) + sum[e](T[i, e] * T[i, e])\noutput V\n",
	"size N = 3, K = 4\ninput A[N, K] f64, B[K, N] f64, C[N, K] f64\n"
	"P[i, j] = A[i, j] * 2 + 1\nQ[i, l] = sum[j, k](P[i, j] * B[j, k] * C[k, l])\n"
	"R[i, l] = relu(Q[i, l]) - 0.5\nS[i, l] = R[i, l] * R[i, l]\nU[i, l] = S[i, l] + 1\noutput U\n",
	"size N = 4, M = 3\ninput X[N, M] f32, Y[M, N] f32, Z[N, M] f32\n"
	"A[i, j] = X[i, j] * 0.1\nB[i, l] = sum[j, k](A[i, j] * Y[j, k] * Z[k, l])\n"
	"C[i, l] = sqrt(abs(B[i, l]))\nD[l, i] = C[i, l] + 1\noutput D\n",
};

START_TEST(differential_hand_written)
{
	DiffStats st = {0};
	int n = (int)(sizeof hand_programs / sizeof hand_programs[0]);
	for (int i = 0; i < n; i++)
		diff_check(hand_programs[i], NULL, 0, &st);
	ck_assert_int_eq(st.programs, n);
	ck_assert_int_ge(n, 24);
	ck_assert_int_ge(st.split, 12);
	ck_assert_int_ge(st.fused, 8);
}
END_TEST

/* The samples, at sizes the interpreter runs in a moment. */
static const struct {
	const char *file;
	const char *sizes; /* NAME=VALUE ... */
} samples[] = {
	{"attention.tra", "B=2 H=2 S=4 D=3"},
	{"batched.tra", "B=2 N=3 K=4 M=2 H=2 S=3 D=2"},
	{"chain.tra", "M=5 P=3 Q=6 R=2 N=4"},
	{"layernorm.tra", "N=3 D=5"},
	{"logreg.tra", "N=7 D=4"},
	{"matmul.tra", "M=3 K=4 N=5"},
	{"mlp.tra", "N=4 D=3 H=5 C=3"},
	{"softmax.tra", "N=3 D=4"},
};

/* The file's text, malloc'ed; aborts the test if it cannot be read. */
static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	UnitMem m;
	unit_mem_open(&m);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m.f);
	fclose(f);
	fflush(m.f);
	char *s = strdup(m.buf ? m.buf : "");
	unit_mem_close(&m);
	return s;
}

START_TEST(differential_samples)
{
	const char *srcdir = getenv("srcdir") ? getenv("srcdir") : ".";
	DiffStats st = {0};
	int n = (int)(sizeof samples / sizeof samples[0]);
	for (int i = 0; i < n; i++) {
		char path[4096], sizes[256];
		snprintf(path, sizeof path, "%s/samples/%s", srcdir, samples[i].file);
		char *src = read_text(path);
		SizeOverride ov[16];
		int nov = 0;
		snprintf(sizes, sizeof sizes, "%s", samples[i].sizes);
		for (char *tok = strtok(sizes, " "); tok; tok = strtok(NULL, " ")) {
			char *eq = strchr(tok, '=');
			*eq = '\0';
			ov[nov++] = (SizeOverride){tok, atoll(eq + 1), false};
		}
		diff_check(src, ov, nov, &st);
		for (int k = 0; k < nov; k++)
			ck_assert_msg(ov[k].used, "%s has no size %s", samples[i].file, ov[k].name);
		free(src);
	}
	ck_assert_int_eq(st.split, 1); /* chain.tra */
}
END_TEST

/* ---- random programs ---- */

/* Programs of several statements over fixed inputs: contractions (sums
 * of products of 2 to 11 factors, with constants and epilogues), maps
 * that tend to read the tensor just defined (so chains form), and other
 * reductions. Index i2 ranges like i, and so on. */
enum { RG_DIMS = 4, RG_IDX = 8, RG_MAX_T = 24, RG_BUF = 16384 };
static const char *const rg_idx[RG_IDX] = {"i", "j", "k", "l", "i2", "j2", "k2", "l2"};
static const char rg_decls[] =
	"size N = 2, M = 3, K = 4, L = 3\n"
	"input A[N, M] f64, B[M, K] f64, C[K, L] f64, D[L, N] f64, E[N, M, K] f64, F[K, K] f64\n"
	"input vN[N] f64, vM[M] f64, vK[K] f64, vL[L] f64, s f64\n";

typedef struct RgTensor {
	char name[8];
	int rank;
	int dim[3];
} RgTensor;

typedef struct Rg {
	char buf[RG_BUF];
	size_t len;
	uint64_t state;
	RgTensor t[RG_MAX_T];
	int nt;
	int ninputs;
} Rg;

static unsigned rg_rand(Rg *g, unsigned n)
{
	return (unsigned)(rng_next(&g->state) % n);
}

static void rg_put(Rg *g, const char *s)
{
	size_t n = strlen(s);
	ck_assert(g->len + n < RG_BUF);
	memcpy(g->buf + g->len, s, n + 1);
	g->len += n;
}

static void rg_reset(Rg *g)
{
	static const RgTensor inputs[] = {
		{"A", 2, {0, 1}}, {"B", 2, {1, 2}}, {"C", 2, {2, 3}}, {"D", 2, {3, 0}},
		{"E", 3, {0, 1, 2}}, {"F", 2, {2, 2}}, {"vN", 1, {0}}, {"vM", 1, {1}},
		{"vK", 1, {2}}, {"vL", 1, {3}}, {"s", 0, {0}},
	};
	g->len = 0;
	g->buf[0] = '\0';
	rg_put(g, rg_decls);
	g->nt = g->ninputs = (int)(sizeof inputs / sizeof inputs[0]);
	memcpy(g->t, inputs, sizeof inputs);
}

/* An index of dimension dim in allowed, or -1. */
static int rg_pick(Rg *g, unsigned allowed, int dim)
{
	int a = (allowed >> dim) & 1, b = (allowed >> (dim + 4)) & 1;
	if (a && b)
		return dim + 4 * (int)rg_rand(g, 2);
	return a ? dim : b ? dim + 4 : -1;
}

/* A tensor element subscripted by allowed indices (often the newest
 * tensor), adding the indices to *used; "s" if none fits. */
static void rg_access(Rg *g, unsigned allowed, unsigned *used)
{
	for (int tries = 0; tries < 12; tries++) {
		int t = g->nt > g->ninputs && rg_rand(g, 2) ? g->nt - 1 : (int)rg_rand(g, (unsigned)g->nt);
		int sub[3];
		bool ok = true;
		for (int d = 0; d < g->t[t].rank && ok; d++)
			ok = (sub[d] = rg_pick(g, allowed, g->t[t].dim[d])) >= 0;
		if (!ok)
			continue;
		rg_put(g, g->t[t].name);
		for (int d = 0; d < g->t[t].rank; d++) {
			rg_put(g, d ? ", " : "[");
			rg_put(g, rg_idx[sub[d]]);
			*used |= 1u << sub[d];
		}
		rg_put(g, g->t[t].rank ? "]" : "");
		return;
	}
	rg_put(g, "s");
}

/* " * vX[x]" for every index of want not in used. */
static void rg_cover(Rg *g, unsigned want, unsigned used, const char *op)
{
	for (int x = 0; x < RG_IDX; x++)
		if (((want & ~used) >> x) & 1) {
			rg_put(g, op);
			rg_put(g, g->t[g->ninputs - 5 + x % 4].name);
			rg_put(g, "[");
			rg_put(g, rg_idx[x]);
			rg_put(g, "]");
		}
}

static void rg_expr(Rg *g, unsigned allowed, int depth, unsigned *used)
{
	static const char *const ops[] = {" + ", " - ", " * "};
	static const char *const fns[] = {"tanh(", "sigmoid(", "relu(", "abs(", "exp(", "-("};
	static const char *const cmps[] = {" < ", " >= ", " != "};
	switch (depth >= 3 ? rg_rand(g, 2) : rg_rand(g, 8)) {
	case 0:
		rg_access(g, allowed, used);
		break;
	case 1:
		if (rg_rand(g, 3)) {
			rg_access(g, allowed, used);
		} else
			rg_put(g, rg_rand(g, 2) ? "0.5" : "2");
		break;
	case 2: case 3:
		rg_put(g, "(");
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ops[rg_rand(g, 3)]);
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ")");
		break;
	case 4: case 5:
		rg_put(g, fns[rg_rand(g, 6)]);
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ")");
		break;
	case 6:
		rg_put(g, rg_rand(g, 2) ? "max(" : "min(");
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ", ");
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ")");
		break;
	default:
		rg_put(g, "select(");
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, cmps[rg_rand(g, 3)]);
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ", ");
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ", ");
		rg_expr(g, allowed, depth + 1, used);
		rg_put(g, ")");
		break;
	}
}

/* Up to n fresh indices not in taken, as a set. */
static unsigned rg_fresh(Rg *g, unsigned taken, int n)
{
	unsigned set = 0;
	for (int tries = 0; tries < 4 * n && n > 0; tries++) {
		int x = (int)rg_rand(g, RG_IDX);
		if (!(((taken | set) >> x) & 1)) {
			set |= 1u << x;
			n--;
		}
	}
	return set;
}

/* "agg[x, y](" for the indices of set. */
static void rg_agg_open(Rg *g, const char *agg, unsigned set)
{
	rg_put(g, agg);
	const char *sep = "[";
	for (int x = 0; x < RG_IDX; x++)
		if ((set >> x) & 1) {
			rg_put(g, sep);
			rg_put(g, rg_idx[x]);
			sep = ", ";
		}
	rg_put(g, "](");
}

/* A sum of a product, perhaps a mean, perhaps inside an epilogue. */
static void rg_contraction(Rg *g, unsigned lhs, int first_lhs)
{
	unsigned red = rg_fresh(g, lhs, 1 + (int)rg_rand(g, 3)), used = 0;
	if (!red)
		red = rg_fresh(g, lhs, 1);
	int epi = (int)rg_rand(g, 5), nf = rg_rand(g, 8) ? 2 + (int)rg_rand(g, 5) : 9 + (int)rg_rand(g, 3);
	if (epi == 2 && first_lhs < 0)
		epi = 1;
	rg_put(g, epi == 2 ? "relu(" : epi == 3 ? "tanh(" : "");
	rg_agg_open(g, rg_rand(g, 4) ? "sum" : "mean", red);
	for (int f = 0; f < nf; f++) {
		rg_put(g, f ? " * " : "");
		if (rg_rand(g, 6) == 0)
			rg_put(g, rg_rand(g, 2) ? "2 * " : "0.5 * ");
		rg_access(g, lhs | red, &used);
	}
	rg_cover(g, lhs | red, used, " * ");
	rg_put(g, ")");
	if (epi == 1)
		rg_put(g, " * 0.5");
	if (epi == 2) {
		rg_put(g, " + ");
		rg_put(g, g->t[g->ninputs - 5 + first_lhs % 4].name);
		rg_put(g, "[");
		rg_put(g, rg_idx[first_lhs]);
		rg_put(g, "])");
	}
	if (epi == 3)
		rg_put(g, ") - s");
}

/* Another reduction of an expression over one or two fresh indices. */
static void rg_reduction(Rg *g, unsigned lhs, unsigned *used)
{
	static const char *const aggs[] = {"max", "min", "sum", "mean", "prod"};
	unsigned red = rg_fresh(g, lhs, 1 + (int)rg_rand(g, 2));
	if (!red) {
		rg_put(g, "s");
		return;
	}
	rg_agg_open(g, aggs[rg_rand(g, 5)], red);
	rg_expr(g, lhs | red, 1, used);
	rg_cover(g, red, *used, " * ");
	rg_put(g, ")");
}

/* One statement T<n>[lhs] = ...; registers T<n>. */
static void rg_statement(Rg *g)
{
	RgTensor *t = &g->t[g->nt];
	snprintf(t->name, sizeof t->name, "T%d", g->nt - g->ninputs);
	const RgTensor *last = &g->t[g->nt - 1];
	unsigned lhs = 0;
	int kind = (int)rg_rand(g, 5); /* 0, 1: contraction; 2, 3: map; 4: reduction */
	if (kind >= 2 && kind <= 3 && last->rank && rg_rand(g, 3)) {
		/* the newest tensor's shape, so that a chain of maps forms */
		for (int d = 0; d < last->rank; d++)
			lhs |= 1u << (((lhs >> last->dim[d]) & 1) ? last->dim[d] + 4 : last->dim[d]);
	} else
		lhs = rg_fresh(g, 0, (int)rg_rand(g, 4));
	int order[RG_IDX], nl = 0, first = -1;
	for (int x = 0; x < RG_IDX; x++)
		if ((lhs >> x) & 1)
			order[nl++] = x;
	if (nl > 3)
		nl = 3;
	lhs = 0;
	t->rank = nl;
	rg_put(g, t->name);
	for (int d = 0; d < nl; d++) {
		lhs |= 1u << order[d];
		t->dim[d] = order[d] % 4;
		rg_put(g, d ? ", " : "[");
		rg_put(g, rg_idx[order[d]]);
		first = first < 0 ? order[d] : first;
	}
	rg_put(g, nl ? "] = " : " = ");
	unsigned used = 0;
	if (kind <= 1) {
		rg_contraction(g, lhs, first);
		used = lhs;
	} else if (kind <= 3)
		rg_expr(g, lhs, 0, &used);
	else
		rg_reduction(g, lhs, &used);
	/* the left-hand indices must occur on the right */
	rg_cover(g, lhs, used, " + 0 * ");
	rg_put(g, "\n");
	g->nt++;
}

/* A program of 2 to 6 statements; the last is an output, others may be. */
static void rg_program(Rg *g)
{
	rg_reset(g);
	int n = 2 + (int)rg_rand(g, 5);
	for (int i = 0; i < n; i++)
		rg_statement(g);
	rg_put(g, "output ");
	rg_put(g, g->t[g->nt - 1].name);
	for (int t = g->ninputs; t < g->nt - 1; t++)
		if (rg_rand(g, 4) == 0) {
			rg_put(g, ", ");
			rg_put(g, g->t[t].name);
		}
	rg_put(g, "\n");
}

START_TEST(differential_random)
{
	Rg *g = calloc(1, sizeof *g);
	g->state = 1234;
	DiffStats st = {0};
	int invalid = 0;
	enum { PROGRAMS = 400 };
	for (int p = 0; p < PROGRAMS; p++) {
		rg_program(g);
		UnitRun *u = unit_compile(g->buf);
		int errors = u->nerrors;
		unit_free(u);
		if (errors) {
			invalid++;
			continue;
		}
		diff_check(g->buf, NULL, 0, &st);
	}
	free(g);
	ck_assert_msg(invalid <= PROGRAMS / 20, "%d invalid programs", invalid);
	ck_assert_msg(st.split >= st.programs / 4, "only %d of %d programs split", st.split, st.programs);
	ck_assert_msg(st.fused >= st.programs / 4, "only %d of %d programs fused", st.fused, st.programs);
}
END_TEST

/* ---- algebra, cse, hoisting, the pipeline -------------------------------------- */

/* Runs cse_merge, then dce_remove, as the driver's table does. */
static void cse_then_dce(TraGraph *g)
{
	cse_merge(g);
	tra_verify(g);
	dce_remove(g);
}

/* The graph with names taken out: every einsum renamed t<id>, every index
 * named by its place (o0, o1 outputs, r0 reduced), one node_str a line. */
static const char *anon_str(UnitRun *u)
{
	TraGraph *g = &u->g;
	for (int id = 0; id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		if (n->kind == TRA_NODE_EINSUM)
			n->name = arena_printf(&u->arena, "t%d", id);
		TraIndex *idx = arena_alloc(&u->arena, (size_t)(n->nidx + 1) * sizeof *idx);
		for (int d = 0; d < n->nidx; d++) {
			idx[d] = n->idx[d];
			idx[d].name = arena_printf(&u->arena, "%c%d", d < n->rank ? 'o' : 'r',
			                           d < n->rank ? d : d - n->rank);
		}
		n->idx = idx;
	}
	UnitMem m;
	unit_mem_open(&m);
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_EINSUM)
			fprintf(m.f, "%s\n", node_str(u, g->nodes[id].name));
	const char *t = unit_mem_text(&m);
	const char *s = arena_strndup(&u->arena, t, m.len);
	unit_mem_close(&m);
	return s;
}

/* Einsums of g with aggregation agg. */
static int count_agg(const TraGraph *g, TraAgg agg)
{
	int n = 0;
	for (int id = 0; id < g->nnodes; id++)
		n += g->nodes[id].kind == TRA_NODE_EINSUM && g->nodes[id].agg == agg;
	return n;
}

START_TEST(algebra_folds_and_identities)
{
	UnitRun *u = after("size N = 4\ninput X[N], Y[N]\n"
	                   "A[i] = X[i] * (2 + 3) - 0\n"
	                   "B[i] = --X[i] * 1 + 0\n"
	                   "C[i] = X[i] / 8 + X[i] / 3\n"
	                   "D[i] = X[i] * 0 + Y[i] * -1\n"
	                   "E[i] = select(1 < 2, X[i], Y[i]) + -Y[i]\n"
	                   "F[i] = X[i] - -Y[i] + exp(0) * log(1)\n"
	                   "G[i] = select(X[i] < 1, 2 * 3, Y[i] / 1) + 1 / 0\n"
	                   "H[i] = -Y[i] + X[i]\n"
	                   "output A, B, C, D, E, F, G, H\n", algebra_normalise);
	assert_node(u, "A", "A[i] = (* X[i] 5)");
	assert_node(u, "B", "B[i] = X[i]");
	/* only the exact reciprocal; x * 0 stays (inf * 0 is NaN) */
	assert_node(u, "C", "C[i] = (+ (* X[i] 0.125) (/ X[i] 3))");
	assert_node(u, "D", "D[i] = (- (* X[i] 0) Y[i])");
	assert_node(u, "E", "E[i] = (- X[i] Y[i])");
	assert_node(u, "F", "F[i] = (+ X[i] Y[i])");
	assert_node(u, "G", "G[i] = (+ select((< X[i] 1),6,Y[i]) inf)");
	assert_node(u, "H", "H[i] = (- X[i] Y[i])");
	ck_assert_int_eq(unit_node(&u->g, "B")->nops, 1);
	ck_assert_double_eq(unit_node(&u->g, "A")->flops, 4);
	unit_free(u);
}
END_TEST

START_TEST(algebra_factors_out_of_sums)
{
	UnitRun *u = after("size N = 3, K = 4\ninput a[N], B[N, K], s, c[K]\n"
	                   "Y[i] = sum[k](a[i] * B[i, k] * s)\n"
	                   "Z[i] = sum[k](2 * a[i] * B[i, k]) + 1\n"
	                   "M[i] = max[k](a[i] * B[i, k])\n"
	                   "V[i] = sum[k](a[i] * 2 * c[k] * s)\n"
	                   "W[i] = sum[k](exp(a[i]) * c[k]) * sum[k](a[i] * c[k])\n"
	                   "output Y, Z, M, V, W\n", algebra_normalise);
	assert_node(u, "Y", "Y[i] = sum[k] B[i,k] then (* acc (* a[i] s))");
	assert_node(u, "Z", "Z[i] = sum[k] (* 2 B[i,k]) then (+ (* acc a[i]) 1)");
	assert_node(u, "M", "M[i] = max[k] (* a[i] B[i,k])"); /* sums only */
	/* a[i] stays: no other factor reads i, and moved out it would leave a
	 * sum over k computed again for every i */
	assert_node(u, "V", "V[i] = sum[k] (* (* a[i] 2) c[k]) then (* acc s)");
	ck_assert_int_eq(unit_node(&u->g, "Y")->nops, 3);
	/* likewise here (hoisting then takes exp(a[i]) out of the join, and
	 * the order pass sums c first); the reduction sema split off too */
	assert_node(u, "W", "W[i] = sum[k] (* exp(a[i]) c[k]) then (* acc W.r1[i])");
	assert_node(u, "W.r1", "W.r1[i] = sum[k] (* a[i] c[k])");
	unit_free(u);
}
END_TEST

/* A copy (permuted, a chain of them, a diagonal) is read
 * through: its readers read what it copies; outputs and copies that
 * compute something stay. */
/* Which factors leave a sum depends on their index sets, not on the
 * order they are written in: here x[l], P[j, l] and R[i, l] read no
 * summed index, and each reads an output index (l, j, i) that the
 * factors left in the sum (v[n], Q[o, m]) do not, so all three stay in
 * either order. (algebra once kept the first such factor and looked
 * again: written one way x[l] moved to the epilogue, the other way it
 * stayed, and contraction order then found plans of 4,193 and 5,177
 * FLOPs for the same sum: props.py, seed 7.) */
START_TEST(algebra_factor_out_is_order_free)
{
	static const char *const joins[] = {"v[n] * x[l] * P[j, l] * Q[o, m] * R[i, l]",
	                                    "R[i, l] * Q[o, m] * P[j, l] * x[l] * v[n]"};
	for (int k = 0; k < 2; k++) {
		char src[512];
		snprintf(src, sizeof src,
		         "size A = 6, E = 9, B = 7, C = 4, D = 2\ninput v[D], x[C], P[A, C], R[E, C], Q[B, B]\n"
		         "T[i, j, m, l] = sum[n, o](%s)\noutput T\n", joins[k]);
		UnitRun *u = after(src, algebra_normalise);
		const TraNode *t = unit_node(&u->g, "T");
		ck_assert_msg(t->epilogue < 0, "order %d: a factor left the sum", k);
		ck_assert_int_eq(t->nops, 5);
		unit_free(u);
	}
}
END_TEST

START_TEST(algebra_forwards_copies)
{
	UnitRun *u = after("size N = 3, K = 4\ninput X[N, K], v[N], Q[N, N]\n"
	                   "T[k, i] = X[i, k]\n"
	                   "U[i, k] = T[k, i]\n"
	                   "Y[i] = sum[k](U[i, k] * T[k, i])\n"
	                   "D[i] = Q[i, i]\n"
	                   "Z[i, k] = v[i] * X[i, k] + D[i]\n"
	                   "O[k, i] = X[i, k]\n"
	                   "S[k, i] = 2 * X[i, k]\n"
	                   "W[i] = sum[k](O[k, i] + S[k, i])\n"
	                   "output Y, Z, O, W\n", algebra_normalise);
	assert_node(u, "Y", "Y[i] = sum[k] (* X[i,k] X[i,k])");
	ck_assert_int_eq(unit_node(&u->g, "Y")->nops, 1);
	assert_node(u, "Z", "Z[i,k] = (+ (* v[i] X[i,k]) Q[i,i])");
	assert_node(u, "W", "W[i] = sum[k] (+ O[k,i] S[k,i])");
	unit_free(u);
}
END_TEST

START_TEST(cse_softmax_max_twice)
{
	const char *src = "size N = 3, C = 4\ninput Y[N, C]\n"
	                  "P[i, c] = exp(Y[i, c] - max[c2](Y[i, c2])) / sum[c3](exp(Y[i, c3] - max[c4](Y[i, c4])))\n"
	                  "output P\n";
	UnitRun *u = unit_compile_ok(src);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_MAX), 2);
	cse_then_dce(&u->g);
	tra_verify(&u->g);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_MAX), 1);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_SUM), 1);
	unit_free(u);
}
END_TEST

/* A statement's own aggregate that an earlier node computes in full is
 * read, not computed again: two GEMVs become one, and the statement a
 * map; an aggregate whose reduced range differs stays. */
START_TEST(cse_shares_aggregates)
{
	const char *src = "size N = 3, K = 4\ninput X[K, N], v[K], b[N]\n"
	                  "T[i] = sum[k](X[k, i] * v[k])\n"
	                  "Y[i] = sigmoid(sum[m](v[m] * X[m, i]) + T[i])\n"
	                  "Z[i] = sum[k](X[k, i] * v[k]) * b[i]\n"
	                  "W = max[k](v[k]) + 1\n"
	                  "U = max[i](b[i]) + 1\n"
	                  "output Y, Z, W, U\n";
	UnitRun *u = unit_compile_ok(src);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_SUM), 3);
	cse_then_dce(&u->g);
	tra_verify(&u->g);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_SUM), 1);
	ck_assert_int_eq(unit_node(&u->g, "Y")->agg, TRA_AGG_NONE);
	ck_assert_int_eq(unit_node(&u->g, "Z")->agg, TRA_AGG_NONE);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_MAX), 2);
	unit_free(u);
}
END_TEST

/* The same aggregate alone, later (grad.c's Y.acc for relu's
 * derivative): it moves before the node with the epilogue, which reads
 * it; one GEMM, not two. The gradient's mask reads it too. */
START_TEST(cse_moves_later_aggregates)
{
	const char *src = "size N = 3, K = 4, M = 5\ninput X[N, K], W[K, M]\n"
	                  "Y[i, j] = relu(sum[k](X[i, k] * W[k, j]))\n"
	                  "L = sum[i, j](Y[i, j] * Y[i, j])\n"
	                  "dW = grad(L, W)\n"
	                  "output Y, dW\n";
	UnitRun *u = unit_compile_ok(src);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_SUM), 5); /* Y, L, Y.acc, dL/dX, dW */
	cse_then_dce(&u->g);
	tra_verify(&u->g);
	ck_assert_int_eq(count_agg(&u->g, TRA_AGG_SUM), 2); /* one X W, and dW (L is dead) */
	ck_assert_int_eq(unit_node(&u->g, "Y")->agg, TRA_AGG_NONE);
	ck_assert_int_lt(unit_node_id(&u->g, "Y.acc"), unit_node_id(&u->g, "Y"));
	unit_free(u);
}
END_TEST

/* A contraction's gradient is a contraction: after every pass, the
 * gradients of both operands of a matrix product (and of a batched one)
 * are GEMMs, and nothing else of the backward pass is. */
START_TEST(grad_of_gemm_is_gemm)
{
	UnitRun *u = unit_compile_ok("size M = 6, K = 5, N = 7, B = 3\n"
	                             "input A[M, K], W[K, N], R[M, N], P[B, M, K], Q[B, K, N]\n"
	                             "C[i, j] = sum[k](A[i, k] * W[k, j])\n"
	                             "D[b, i, j] = sum[k](P[b, i, k] * Q[b, k, j])\n"
	                             "L = sum[i, j](C[i, j] * R[i, j]) + sum[b, i, j](D[b, i, j] * R[i, j])\n"
	                             "dA = grad(L, A)\ndW = grad(L, W)\ndP = grad(L, P)\ndQ = grad(L, Q)\n"
	                             "output dA, dW, dP, dQ\n");
	all_passes(&u->g);
	GemmPlan plan;
	const char *names[] = {"dA", "dW", "dP", "dQ"};
	for (int i = 0; i < 4; i++)
		ck_assert_msg(gemm_plan(&u->g, unit_node(&u->g, names[i]), GEMM_NODE, &plan), "%s is no GEMM",
		              names[i]);
	unit_free(u);
}
END_TEST

/* An embedding's gradient is a scatter-add over the rows read: after
 * every pass, one node scatters dL/dX into the table's shape at tok's
 * positions, in T * D adds, and no node of the program costs a factor
 * of V (a one-hot product over the table would be V * T * D). */
START_TEST(grad_of_gather_is_scatter_add)
{
	UnitRun *u = unit_compile_ok("size V = 50257, T = 96, D = 64\n"
	                             "input E[V, D], tok[T] i32, W[D]\n"
	                             "X[t, d] = E[tok[t], d]\n"
	                             "L = sum[t](tanh(sum[d](X[t, d] * W[d])))\n"
	                             "dE = grad(L, E)\ndW = grad(L, W)\noutput dE, dW\n");
	all_passes(&u->g);
	int found = -1;
	for (int id = 0; id < u->g.nnodes; id++) {
		const TraNode *n = &u->g.nodes[id];
		ck_assert_msg(tra_node_join_points(n) < 50257.0 * 96, "%s has %g join points", n->name,
		              tra_node_join_points(n));
		if (!tra_node_is_scatter(n))
			continue;
		ck_assert_int_eq(found, -1);
		found = id;
		ck_assert_int_eq(n->rank, 2);
		ck_assert_int_eq(n->scatter[0], 1);
		ck_assert_int_eq(n->scatter[1], -1);
		ck_assert_str_eq(u->g.nodes[n->ops[1].node].name, "tok");
		ck_assert(n->flops == 96.0 * 64);
	}
	ck_assert_int_ge(found, 0);
	unit_free(u);
}
END_TEST

/* An aggregate whose join a stored map computes reads the map, even
 * when hoisting put the map after it (w3n's softmax: exp written twice);
 * a map too cheap to store for it (2 flops per element) is not read. */
START_TEST(cse_aggregates_read_maps)
{
	UnitRun *u = unit_compile_ok("size N = 3, C = 4, D = 2\ninput Y[N, C], V[C, D], X[N, C]\n"
	                             "O[i, d] = (sum[c](exp(Y[i, c] - max[c2](Y[i, c2])) * V[c, d]) /\n"
	                             "           sum[c3](exp(Y[i, c3] - max[c4](Y[i, c4]))))\n"
	                             "T[i, c] = X[i, c] * 2 + 1\n"
	                             "S[i] = sum[c](X[i, c] * 2 + 1)\n"
	                             "output O, T, S\n");
	for (int i = 0; i < driver_npasses && strcmp(driver_passes[i].name, "order") != 0; i++) {
		driver_passes[i].run(&u->g);
		tra_verify(&u->g);
	}
	dce_remove(&u->g);
	tra_verify(&u->g);
	assert_node(u, "O.h1", "O.h1[i,c] = exp((- Y[i,c] O.r1[i]))");
	assert_node(u, "O.r3", "O.r3[i] = sum[c3] O.h1[i,c3]");
	assert_node(u, "S", "S[i] = sum[c] (+ (* X[i,c] 2) 1)");
	ck_assert_int_lt(unit_node_id(&u->g, "O.h1"), unit_node_id(&u->g, "O.r3"));
	unit_free(u);
}
END_TEST

START_TEST(cse_renaming_and_commutativity)
{
	UnitRun *u = after("size N = 3, K = 4, M = 5\ninput X[N, K], W[K, M], b[M]\n"
	                   "A[i, j] = sum[k](X[i, k] * W[k, j]) + b[j]\n"
	                   "B[p, q] = b[q] + sum[m](W[m, q] * X[p, m])\n"
	                   "C[i, j] = A[i, j] * B[i, j]\n"
	                   "D[j, i] = sum[k](X[i, k] * W[k, j]) + b[j]\n"
	                   "E[i, j] = B[i, j] - A[i, j]\n"
	                   "output C, D, E\n", cse_then_dce);
	/* B is A; D reads the same values transposed: another tensor */
	ck_assert_str_eq(graph_str(u), "X W b A C D E");
	assert_node(u, "C", "C[i,j] = (* A[i,j] A[i,j])");
	ck_assert_int_eq(unit_node(&u->g, "C")->nops, 1);
	assert_node(u, "E", "E[i,j] = (- A[i,j] A[i,j])");
	unit_free(u);
	/* outputs stay apart (each is a file); a later copy merges into an output */
	u = after("size N = 3\ninput X[N]\nA[i] = X[i] * 2\nB[i] = 2 * X[i]\nT[i] = X[i] * 2\n"
	          "C[i] = T[i] + 1\noutput A, B, C\n", cse_then_dce);
	ck_assert_str_eq(graph_str(u), "X A B C");
	assert_node(u, "C", "C[i] = (+ A[i] 1)");
	unit_free(u);
	/* not associativity, not max's operands, not other constants */
	u = after("size N = 3\ninput X[N], Y[N], Z[N]\nA[i] = X[i] + Y[i] + Z[i]\nB[i] = X[i] + (Y[i] + Z[i])\n"
	          "C[i] = max(X[i], Y[i])\nD[i] = max(Y[i], X[i])\nE[i] = X[i] * 2\nF[i] = X[i] * 3\n"
	          "output A, B, C, D, E, F\n", cse_then_dce);
	ck_assert_str_eq(graph_str(u), "X Y Z A B C D E F");
	unit_free(u);
}
END_TEST

START_TEST(cse_long_chain_is_linear)
{
	/* 20,000 copies of one map, each reading the last: one pass merges
	 * nothing (each reads a different node) and must not take long */
	enum { N = 20000 };
	UnitMem m;
	unit_mem_open(&m);
	fputs("size N = 4\ninput X[N]\nA0[i] = X[i] * 2\n", m.f);
	for (int k = 1; k < N; k++)
		fprintf(m.f, "A%d[i] = A%d[i] * 2 + X[i]\n", k, k - 1);
	fprintf(m.f, "B[i] = A%d[i] * 2 + X[i]\nC[i] = A%d[i] + B[i]\noutput C\n", N - 2, N - 1);
	const char *src = unit_mem_text(&m);
	UnitRun *u = unit_compile_ok(src);
	unit_mem_close(&m);
	cse_then_dce(&u->g);
	/* B computes what A<N-1> does */
	ck_assert_int_eq(u->g.nnodes, 2 + N);
	ck_assert_str_eq(node_str(u, "C"), arena_printf(&u->arena, "C[i] = (+ A%d[i] A%d[i])", N - 1, N - 1));
	unit_free(u);
}
END_TEST

START_TEST(hoist_logistic_gradient)
{
	UnitRun *u = after("size N = 50, D = 8\ninput X[N, D], w[D], y[N]\n"
	                   "g[j] = sum[i](X[i, j] * (sigmoid(sum[k](X[i, k] * w[k])) - y[i])) / N\n"
	                   "output g\n", hoist_invariants);
	ck_assert_str_eq(graph_str(u), "X w y g.r1 g.h1 g");
	assert_node(u, "g.h1", "g.h1[i] = (- sigmoid(g.r1[i]) y[i])");
	assert_node(u, "g", "g[j] = sum[i] (* X[i,j] g.h1[i]) then (/ acc 50)");
	const TraNode *h = unit_node(&u->g, "g.h1");
	ck_assert_int_eq(h->rank, 1);
	ck_assert_str_eq(h->idx[0].sname, "N");
	ck_assert_double_eq(h->flops, 50.0 * 7);
	/* fusion does not undo it, but makes the dot product g.h1's own
	   (g.r1 was read by it alone, at its indices) */
	fuse_then_dce(&u->g);
	ck_assert_str_eq(graph_str(u), "X w y g.h1 g");
	assert_node(u, "g.h1", "g.h1[i] = sum[k] (* X[i,k] w[k]) then (- sigmoid(acc) y[i])");
	unit_free(u);
}
END_TEST

START_TEST(hoist_gemm_operands)
{
	UnitRun *u = after("size N = 6, K = 5, C = 4\ninput H[N, K], W[K, C], v[K]\n"
	                   "Z[i, c] = sum[k](relu(H[i, k]) * W[k, c])\n"
	                   "Y[i, c] = sum[k](-H[i, k] * W[k, c] * 2)\n"
	                   "U[i, c] = sum[k](relu(H[i, k]) * abs(W[k, c]) * v[k])\n"
	                   "output Z, Y, U\n", hoist_invariants);
	assert_node(u, "Z.h1", "Z.h1[i,k] = relu(H[i,k])");
	assert_node(u, "Z", "Z[i,c] = sum[k] (* Z.h1[i,k] W[k,c])");
	/* a negated operand and a constant are what GEMM reads anyway */
	assert_node(u, "Y", "Y[i,c] = sum[k] (* (* (neg H[i,k]) W[k,c]) 2)");
	/* three tensors, each its own factor: order makes GEMMs of them */
	assert_node(u, "U", "U[i,c] = sum[k] (* (* U.h1[i,k] U.h2[k,c]) v[k])");
	ck_assert_str_eq(graph_str(u), "H W v Z.h1 Z Y U.h1 U.h2 U");
	unit_free(u);
	/* a mask's indices come first in the walk, S's layout decides: [i, k] */
	u = after("size B = 3, N = 6\ninput S[N, N], X[B, N, N]\n"
	          "Y[b, i, k] = select(k <= i, exp(S[i, k]), 0) * X[b, i, k]\noutput Y\n", hoist_invariants);
	assert_node(u, "Y.h1", "Y.h1[i,k] = select((<= #k #i),exp(S[i,k]),0)");
	unit_free(u);
}
END_TEST

START_TEST(hoist_cost_rule)
{
	UnitRun *u = after("size N = 6, D = 5\ninput X[N, D], a[N], b[D], s\n"
	                   /* exp: 4 flops, (P - p) 4 > P + p */
	                   "A[i, j] = X[i, j] + exp(a[i])\n"
	                   /* relu: 1 flop never pays in a map */
	                   "B[i, j] = X[i, j] + relu(a[i])\n"
	                   /* the largest qualifying sub-expression, whole */
	                   "C[i, j] = X[i, j] * (exp(a[i]) + tanh(a[i]) * 2)\n"
	                   /* in an epilogue, then inside what was hoisted */
	                   "E[i, j] = sum[k](X[i, k] * X[i, k]) + exp(s) * b[j]\n"
	                   "output A, B, C, E\n", hoist_invariants);
	assert_node(u, "A.h1", "A.h1[i] = exp(a[i])");
	assert_node(u, "A", "A[i,j] = (+ X[i,j] A.h1[i])");
	assert_node(u, "B", "B[i,j] = (+ X[i,j] relu(a[i]))");
	assert_node(u, "C.h1", "C.h1[i] = (+ exp(a[i]) (* tanh(a[i]) 2))");
	assert_node(u, "E", "E[i,j] = (+ E.r1[i] E.h1[j])");
	assert_node(u, "E.h1", "E.h1[j] = (* E.h2 b[j])");
	assert_node(u, "E.h2", "E.h2 = exp(s)");
	unit_free(u);
	/* partial products are contraction order's, not hoisting's */
	u = after("size I = 4, J = 5, K = 6, L = 3\ninput A[I, J], B[J, K], C[K, L]\n"
	          "D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])\n"
	          "F[i, l] = sum[j](exp(A[i, j]) * B[j, l])\n"
	          "G[i, j] = exp(A[i, j])\noutput D, F, G\n", hoist_invariants);
	ck_assert_str_eq(graph_str(u), "A B C D F.h1 F G");
	assert_node(u, "D", "D[i,l] = sum[j,k] (* (* A[i,j] B[j,k]) C[k,l])");
	unit_free(u);
	/* a costly sub-product whole, in a map or an epilogue; in a sum's
	 * join the factors stay contraction order's */
	u = after("size N = 6, D = 5\ninput B[N, D], v[D], s\n"
	          "A[i, j] = B[i, j] * (v[j] * (v[j] + s))\n"
	          "C[i] = sum[j](B[i, j] * (v[j] * (v[j] + s)))\noutput A, C\n", hoist_invariants);
	assert_node(u, "A.h1", "A.h1[j] = (* v[j] (+ v[j] s))");
	assert_node(u, "A", "A[i,j] = (* B[i,j] A.h1[j])");
	assert_node(u, "C", "C[i] = sum[j] (* B[i,j] (* v[j] C.h1[j]))");
	unit_free(u);
	/* the memory bound: a hoisted tensor (over i, j, k) larger than every
	 * tensor its node touches is made up to 2^20 elements (64^3 here),
	 * not beyond (128^3) */
	for (int big = 0; big < 2; big++) {
		char src[300];
		snprintf(src, sizeof src, "size N = %d, L = 9\ninput a[N], b[N], c[N], w[L]\n"
		         "Y = sum[i, j, k, l](exp(a[i] + b[j] + c[k]) * w[l])\noutput Y\n", big ? 128 : 64);
		u = after(src, hoist_invariants);
		ck_assert_str_eq(graph_str(u), big ? "a b c w Y" : "a b c w Y.h1 Y");
		unit_free(u);
	}
}
END_TEST

START_TEST(hoist_epilogue_and_nesting)
{
	UnitRun *u = after("size N = 6, D = 5, K = 4\ninput X[N, K], W[K, D], b[D], a[N]\n"
	                   "Y[i, j] = sum[k](X[i, k] * W[k, j]) * exp(b[j])\n"
	                   "Z[i, j, k] = X[i, k] * exp(a[i] + exp(b[j]))\n"
	                   "output Y, Z\n", hoist_invariants);
	assert_node(u, "Y.h1", "Y.h1[j] = exp(b[j])");
	assert_node(u, "Y", "Y[i,j] = sum[k] (* X[i,k] W[k,j]) then (* acc Y.h1[j])");
	/* exp(a[i] + exp(b[j])) over (i, j); inside it, exp(b[j]) over j */
	assert_node(u, "Z.h2", "Z.h2[j] = exp(b[j])");
	assert_node(u, "Z.h1", "Z.h1[i,j] = exp((+ a[i] Z.h2[j]))");
	assert_node(u, "Z", "Z[i,j,k] = (* X[i,k] Z.h1[i,j])");
	ck_assert_str_eq(graph_str(u), "X W b a Y.h1 Y Z.h2 Z.h1 Z");
	unit_free(u);
}
END_TEST

/* The most expression nodes a join or epilogue of g has. */
static int most_ops(const TraGraph *g)
{
	int most = 0;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		int j = tra_expr_size(g, n->join), e = tra_expr_size(g, n->epilogue);
		most = j > most ? j : most;
		most = e > most ? e : most;
	}
	return most;
}

/* head and then stmt, with BODY replaced by depth nested calls of fn
 * around leaf. */
static char *nested_program(const char *head, const char *stmt, const char *fn, int depth,
                            const char *leaf)
{
	UnitMem m;
	unit_mem_open(&m);
	fputs(head, m.f);
	const char *body = strstr(stmt, "BODY");
	fprintf(m.f, "%.*s", (int)(body - stmt), stmt);
	for (int d = 0; d < depth; d++)
		fprintf(m.f, "%s(", fn);
	fputs(leaf, m.f);
	for (int d = 0; d < depth; d++)
		fputc(')', m.f);
	fprintf(m.f, "%s\n", body + 4);
	char *src = strdup(unit_mem_text(&m));
	ck_assert_ptr_nonnull(src);
	unit_mem_close(&m);
	return src;
}

/* Rule (c) of hoist.c: a statement of more than TRA_NODE_MAX_OPS nodes
 * is split into pieces of at least a quarter of that, each under the
 * bound, and fusion does not merge them past it; the values stay
 * (diff_pipeline interprets the graph after every pass). */
START_TEST(hoist_splits_large)
{
	static const char *const stmts[] = {
		/* a map, its pieces over (i, k) */
		"Y[i, k] = BODY\noutput Y\n",
		/* a sum's join: the pieces span its join space, X's size */
		"Y[i] = sum[k](BODY)\noutput Y\n",
		/* an epilogue over (i): the inner part is over fewer indices */
		"Y[i] = sum[k](X[i, k]) + a[i] * sum[k](BODY)\noutput Y\n",
	};
	for (size_t t = 0; t < sizeof stmts / sizeof *stmts; t++) {
		char *src = nested_program("size N = 3, K = 4\ninput X[N, K], a[N]\n", stmts[t], "sin",
		                           3 * TRA_NODE_MAX_OPS, "X[i, k] * 0.5");
		UnitRun *u = after(src, hoist_invariants);
		ck_assert_int_le(most_ops(&u->g), TRA_NODE_MAX_OPS);
		/* 1,536 nested calls: at least 3 pieces, none under a quarter of the bound */
		int pieces = 0;
		for (int id = 0; id < u->g.nnodes; id++)
			if (strstr(u->g.nodes[id].name, ".h") && tra_expr_size(&u->g, u->g.nodes[id].join) > 2) {
				pieces++;
				ck_assert_int_ge(tra_expr_size(&u->g, u->g.nodes[id].join), TRA_NODE_MAX_OPS / 4);
			}
		ck_assert_int_ge(pieces, 3);
		fuse_then_dce(&u->g);
		tra_verify(&u->g);
		ck_assert_int_le(most_ops(&u->g), TRA_NODE_MAX_OPS);
		unit_free(u);
		DiffStats st = {0};
		diff_pipeline(src, NULL, 0, &st);
		ck_assert_int_eq(st.hoisted, 1);
		free(src);
	}
	/* the memory bound: over an outer product larger than every tensor
	 * and 2^20, no piece is made, and the statement stays whole */
	char *src = nested_program("size M = 2048\ninput b[M], c[M]\n", "Y = sum[i, j](BODY)\noutput Y\n",
	                           "sin", TRA_NODE_MAX_OPS + 10, "b[i] * c[j]");
	UnitRun *u = after(src, hoist_invariants);
	ck_assert_int_gt(most_ops(&u->g), TRA_NODE_MAX_OPS);
	unit_free(u);
	free(src);
}
END_TEST

/* Pairs of programs that say the same thing differently: the passes
 * should make one graph of both. */
static const char *const same_graph[][2] = {
	/* one statement, or three */
	{"size N = 50, D = 8\ninput X[N, D], w[D], y[N]\n"
	 "g[j] = sum[i](X[i, j] * (sigmoid(sum[k](X[i, k] * w[k])) - y[i])) / N\noutput g\n",
	 "size N = 50, D = 8\ninput X[N, D], w[D], y[N]\nz[i] = sum[j](X[i, j] * w[j])\n"
	 "r[i] = sigmoid(z[i]) - y[i]\ng[j] = sum[i](X[i, j] * r[i]) / N\noutput g\n"},
	/* a reduction written twice, operands swapped, other index names */
	{"size N = 3, C = 4\ninput Y[N, C]\nM[i] = max[c](Y[i, c])\n"
	 "P[i, c] = exp(Y[i, c] - M[i]) / sum[c2](exp(Y[i, c2] - M[i]))\noutput P\n",
	 "size N = 3, C = 4\ninput Y[N, C]\n"
	 "P[i, c] = exp(Y[i, c] - max[c2](Y[i, c2])) / sum[c3](exp(Y[i, c3] - max[c4](Y[i, c4])))\n"
	 "output P\n"},
	/* relu inline or apart; factors in another order, a constant divisor */
	{"size N = 6, K = 5, C = 4\ninput H[N, K], W[K, C], b[C]\nR[i, k] = relu(H[i, k])\n"
	 "Z[i, c] = sum[k](R[i, k] * W[k, c]) * 0.5 + b[c]\noutput Z\n",
	 "size N = 6, K = 5, C = 4\ninput H[N, K], W[K, C], b[C]\n"
	 "Z[i, c] = b[c] + sum[k](W[k, c] * relu(H[i, k])) / 2\noutput Z\n"},
	/* a factor outside the sum or inside it */
	{"size N = 6, K = 5\ninput a[N], B[N, K], v[K]\nY[i] = a[i] * sum[k](B[i, k] * v[k])\noutput Y\n",
	 "size N = 6, K = 5\ninput a[N], B[N, K], v[K]\nY[i] = sum[k](v[k] * a[i] * B[i, k])\noutput Y\n"},
};

START_TEST(pipeline_canonical_forms)
{
	int n = (int)(sizeof same_graph / sizeof same_graph[0]);
	for (int p = 0; p < n; p++) {
		UnitRun *a = unit_compile_ok(same_graph[p][0]), *b = unit_compile_ok(same_graph[p][1]);
		all_passes(&a->g);
		all_passes(&b->g);
		ck_assert_msg(strcmp(anon_str(a), anon_str(b)) == 0, "pair %d differs:\n%s---\n%s", p,
		              anon_str(a), anon_str(b));
		unit_free(a);
		unit_free(b);
	}
}
END_TEST

START_TEST(pipeline_table)
{
	/* names are distinct, as --after needs; every entry says what it gives */
	for (int i = 0; i < driver_npasses; i++) {
		ck_assert(driver_passes[i].run && strlen(driver_passes[i].contract) > 10);
		ck_assert_str_ne(driver_passes[i].name, "sema");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(driver_passes[i].name, driver_passes[j].name);
	}
	/* share's LETs are for the back ends: no pass after it has to know them */
	ck_assert_str_eq(driver_passes[driver_npasses - 1].name, "share");
	ck_assert_str_eq(driver_passes[driver_npasses - 2].name, "dce");
}
END_TEST

/* ---- subexpr: sub-expressions repeated across nodes -------------------------------- */

/* A softmax inlined into two readers is one node again, read by both;
 * equal up to index names and + and * operand order; the cost rule
 * (f (k - 1) > k + 1 per point for k readers over the same points) and
 * acc keep the rest where it is. */
START_TEST(subexpr_across_nodes)
{
	UnitRun *u = after("size N = 5, M = 3\ninput X[N], m, s, Y[N, M], a[N], b[N]\n"
	                   "A[i] = exp(X[i] - m) / s + a[i]\n"
	                   "B[j, c] = Y[j, c] * (exp(X[j] - m) / s)\n"
	                   "C[i] = (b[i] + a[i]) * 2\nD[i] = (a[i] + b[i]) * 3\n"
	                   "E[i] = exp(sum[c](Y[i, c]))\nF[i] = exp(sum[c](Y[i, c])) + 1\n"
	                   "output A, B, C, D, E, F\n", subexpr_share);
	ck_assert_str_eq(graph_str(u), "X m s Y a b A.s1 A B C D E F");
	assert_node(u, "A.s1", "A.s1[i] = (/ exp((- X[i] m)) s)");
	assert_node(u, "A", "A[i] = (+ A.s1[i] a[i])");
	assert_node(u, "B", "B[j,c] = (* Y[j,c] A.s1[j])");
	/* a + b: 1 flop, not worth a tensor */
	assert_node(u, "D", "D[i] = (* (+ a[i] b[i]) 3)");
	assert_node(u, "F", "F[i] = sum[c] Y[i,c] then (+ exp(acc) 1)");
	unit_free(u);
	DiffStats st = {0};
	diff_check("size N = 5, M = 3\ninput X[N] f64, Y[N, M] f64\n"
	           "P[i] = exp(X[i] - max[k](X[k])) / sum[k](exp(X[k] - max[l](X[l])))\n"
	           "A[i] = P[i] * 2 + P[i]\nB[j, c] = Y[j, c] * P[j]\noutput A, B\n", NULL, 0, &st);
	ck_assert_int_eq(st.programs, 1);
}
END_TEST

/* The node laid out as its largest operand, not as the walk met its
 * indices (k first, in k <= i): S's rows stay the node's rows. */
START_TEST(subexpr_layout)
{
	UnitRun *u = after("size N = 5, M = 7\ninput S[N, M]\n"
	                   "A[i, k] = select(k <= i, exp(S[i, k]), 0) * 2\n"
	                   "B[i, k] = select(k <= i, exp(S[i, k]), 0) + 1\noutput A, B\n", subexpr_share);
	ck_assert_str_eq(graph_str(u), "S A.s1 A B");
	assert_node(u, "A.s1", "A.s1[i,k] = select((<= #k #i),exp(S[i,k]),0)");
	assert_node(u, "A", "A[i,k] = (* A.s1[i,k] 2)");
	unit_free(u);
}
END_TEST

/* ---- views: windows read in place --------------------------------------------------- */

/* A matrix-vector product whose matrix is a view reads what it views in
 * place (no im2col: each element of a GEMV's matrix is read once); a
 * GEMM keeps its window as a copy for BLAS, and so does a GEMV whose
 * view is the vector. */
START_TEST(views_gemv_reads_in_place)
{
	UnitRun *u = unit_compile_ok("size N = 50, O = 6\ninput x[N], w[9], W[O, 9], A[40, 9]\n"
	                             "y[i] = sum[k](x[i + k] * w[k])\n"
	                             "Y[o, i] = sum[k](x[i + k] * W[o, k])\n"
	                             "z[i] = sum[k](A[i, k] * x[k + 2])\noutput y, Y, z\n");
	all_passes(&u->g);
	ck_assert_str_eq(graph_str(u), "x w W A y Y.v1 Y z.v1 z");
	const TraNode *y = unit_node(&u->g, "y");
	ck_assert_int_eq(y->ops[0].node, 0);
	ck_assert_ptr_nonnull(y->ops[0].aff);
	unit_free(u);
}
END_TEST

/* ---- share: sub-expressions repeated within one expression ------------------------ */

/* A map read twice by one expression of its one reader, through one
 * operand, is inlined at both readings (two trees, none shared), and
 * share.c then computes it once per point: the graph of T written once
 * and read twice is the graph of T written out twice. */
START_TEST(fuse_read_twice)
{
	static const char once[] = "size N = 3, M = 4\ninput X[N, M], b[M]\n"
	                           "T[i, j] = tanh(X[i, j] + b[j])\nR[i, j] = T[i, j] * (1 - T[i, j])\noutput R\n";
	static const char twice[] = "size N = 3, M = 4\ninput X[N, M], b[M]\n"
	                            "R[i, j] = tanh(X[i, j] + b[j]) * (1 - tanh(b[j] + X[i, j]))\noutput R\n";
	UnitRun *u = after(once, fuse_then_dce);
	ck_assert_str_eq(graph_str(u), "X b R");
	assert_node(u, "R", "R[i,j] = (* tanh((+ X[i,j] b[j])) (- 1 tanh((+ X[i,j] b[j]))))");
	ck_assert_int_eq(unit_node(&u->g, "R")->nops, 2);
	share_values(&u->g);
	tra_verify(&u->g);
	assert_node(u, "R", "R[i,j] = let(tanh((+ X[i,j] b[j])),(* $1 (- 1 $1)))");
	unit_free(u);
	UnitRun *a = unit_compile_ok(once), *b = unit_compile_ok(twice);
	all_passes(&a->g);
	all_passes(&b->g);
	ck_assert_str_eq(anon_str(a), anon_str(b));
	unit_free(a);
	unit_free(b);
}
END_TEST


/* share.c's rules on sema's graphs: a repeated sub-expression (equal up
 * to the order of the operands of + and *) is bound once at the root;
 * leaves never; in joins, epilogues and select branches alike; the cost
 * counts a bound value once. */
START_TEST(share_binds_repeats)
{
	UnitRun *u = after("size N = 3, C = 4\ninput Y[N, C], b[C], z[N]\n"
	                   "B[i, c] = tanh(Y[i, c] + b[c]) * tanh(b[c] + Y[i, c])\n"
	                   "L[i, c] = Y[i, c] * Y[i, c] + b[c]\n"
	                   "S[i, c] = select(Y[i, c] < 0, exp(Y[i, c] * 2), exp(2 * Y[i, c]) + 1)\n"
	                   "E[i] = sum[c](Y[i, c]) * exp(z[i]) + exp(z[i])\n"
	                   "M[i] = max[c](sqrt(Y[i, c] + z[i]) - sqrt(z[i] + Y[i, c]))\n"
	                   "D[i, c] = exp(Y[i, c]) - exp(Y[i, c] + 0)\n"
	                   "output B, L, S, E, M, D\n", share_values);
	assert_node(u, "B", "B[i,c] = let(tanh((+ Y[i,c] b[c])),(* $1 $1))");
	assert_node(u, "L", "L[i,c] = (+ (* Y[i,c] Y[i,c]) b[c])");
	assert_node(u, "S", "S[i,c] = let(exp((* Y[i,c] 2)),select((< Y[i,c] 0),$1,(+ $1 1)))");
	assert_node(u, "E", "E[i] = sum[c] Y[i,c] then let(exp(z[i]),(+ (* acc $1) $1))");
	assert_node(u, "M", "M[i] = max[c] let(sqrt((+ Y[i,c] z[i])),(- $1 $1))");
	/* not equal: exp(Y) and exp(Y + 0) (the algebra pass, not this one, folds + 0) */
	assert_node(u, "D", "D[i,c] = (- exp(Y[i,c]) exp((+ Y[i,c] 0)))");
	/* tanh (6) + add (1) once, the product once: 8 per point */
	ck_assert_double_eq(unit_node(&u->g, "B")->flops, 3 * 4 * 8);
	unit_free(u);
}
END_TEST

/* Largest first: an occurrence inside a bound copy that is not kept no
 * longer counts; one inside the kept value still does. */
START_TEST(share_largest_first)
{
	UnitRun *u = after("size N = 3\ninput X[N], Y[N]\n"
	                   "A[i] = exp(X[i]) * Y[i] + exp(X[i]) * Y[i]\n"
	                   "B[i] = exp(X[i]) * exp(X[i]) + exp(X[i]) * exp(X[i])\n"
	                   "C[i] = log(exp(X[i]) * 2) * log(2 * exp(X[i])) + exp(X[i])\n"
	                   "output A, B, C\n", share_values);
	/* exp(X[i]) is in the kept product once: not bound */
	assert_node(u, "A", "A[i] = let((* exp(X[i]) Y[i]),(+ $1 $1))");
	/* twice in the kept product: bound too, outside it (its value reads it) */
	assert_node(u, "B", "B[i] = let(exp(X[i]),let((* $2 $2),(+ $1 $1)))");
	assert_node(u, "C", "C[i] = let(exp(X[i]),let(log((* $2 2)),(+ (* $1 $1) $2)))");
	ck_assert_double_eq(unit_node(&u->g, "B")->flops, 3 * (4 + 1 + 1));
	unit_free(u);
}
END_TEST

/* A copy of an expression with LETs reads its own LETs; the whole
 * pipeline, then the interpreter, agree with the graph as written. */
START_TEST(share_copy_and_pipeline)
{
	UnitRun *u = after("size N = 3\ninput X[N]\nB[i] = exp(X[i]) * exp(X[i]) + exp(X[i]) * exp(X[i])\n"
	                   "output B\n", share_values);
	TraNode *n = (TraNode *)unit_node(&u->g, "B");
	int old = n->join;
	n->join = tra_expr_copy(&u->g, old);
	tra_verify(&u->g); /* every VAR of the copy reads a LET of the copy's chain */
	ck_assert_int_ne(n->join, old);
	assert_node(u, "B", "B[i] = let(exp(X[i]),let((* $2 $2),(+ $1 $1)))");
	unit_free(u);
	DiffStats st = {0};
	diff_check("size N = 4, C = 3\ninput Y[N, C] f64, b[C] f64\n"
	           "T[i, c] = tanh(Y[i, c] + b[c])\nU[i, c] = T[i, c] * T[i, c] - exp(b[c] * 2) * exp(2 * b[c])\n"
	           "V[i] = sum[c](exp(Y[i, c] - max[d](Y[i, d]))) * sum[c](exp(Y[i, c] - max[d](Y[i, d])))\n"
	           "W[i, c] = sigmoid(Y[i, c] * b[c]) * (1 - sigmoid(b[c] * Y[i, c]))\n"
	           "output U, V, W\n", NULL, 0, &st);
	ck_assert_int_eq(st.programs, 1);
	u = unit_compile_ok("size N = 4, C = 3\ninput Y[N, C], b[C]\n"
	                    "W[i, c] = sigmoid(Y[i, c] * b[c]) * (1 - sigmoid(b[c] * Y[i, c]))\noutput W\n");
	all_passes(&u->g);
	assert_node(u, "W", "W[i,c] = let(sigmoid((* Y[i,c] b[c])),(* $1 (- 1 $1)))");
	unit_free(u);
}
END_TEST

static Suite *passes_suite(void)
{
	Suite *s = suite_create("passes");
	TCase *tc = tcase_create("order");
	tcase_add_test(tc, order_brief_example);
	tcase_add_test(tc, order_chain_shapes);
	tcase_add_test(tc, order_four_chain);
	tcase_add_test(tc, order_batch_index);
	tcase_add_test(tc, order_single_reader_index);
	tcase_add_test(tc, order_constants_and_epilogues);
	tcase_add_test(tc, order_maps_and_repeats);
	tcase_add_test(tc, order_leaves_others_alone);
	tcase_add_test(tc, order_matches_matrix_chain);
	tcase_add_test(tc, order_exhaustive_to_sixteen);
	suite_add_tcase(s, tc);
	tc = tcase_create("fuse");
	tcase_add_test(tc, fuse_chain_of_maps);
	tcase_add_test(tc, fuse_reindexes);
	tcase_add_test(tc, fuse_into_reductions);
	tcase_add_test(tc, fuse_absorbs_aggregations);
	tcase_add_test(tc, passes_keep_pinned);
	tcase_add_test(tc, fuse_deduplicates_operands);
	tcase_add_test(tc, fuse_non_cases);
	tcase_add_test(tc, fuse_read_twice);
	tcase_add_test(tc, fuse_samples_mlp_softmax);
	tcase_add_test(tc, fuse_dead_code);
	tcase_add_test(tc, fuse_scalars);
	suite_add_tcase(s, tc);
	tc = tcase_create("differential");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, differential_hand_written);
	tcase_add_test(tc, algebra_folds_and_identities);
	tcase_add_test(tc, algebra_factors_out_of_sums);
	tcase_add_test(tc, algebra_factor_out_is_order_free);
	tcase_add_test(tc, algebra_forwards_copies);
	tcase_add_test(tc, cse_softmax_max_twice);
	tcase_add_test(tc, cse_renaming_and_commutativity);
	tcase_add_test(tc, cse_shares_aggregates);
	tcase_add_test(tc, cse_aggregates_read_maps);
	tcase_add_test(tc, cse_moves_later_aggregates);
	tcase_add_test(tc, grad_of_gemm_is_gemm);
	tcase_add_test(tc, grad_of_gather_is_scatter_add);
	tcase_add_test(tc, cse_long_chain_is_linear);
	tcase_add_test(tc, hoist_logistic_gradient);
	tcase_add_test(tc, hoist_gemm_operands);
	tcase_add_test(tc, hoist_cost_rule);
	tcase_add_test(tc, hoist_epilogue_and_nesting);
	tcase_add_test(tc, hoist_splits_large);
	tcase_add_test(tc, pipeline_canonical_forms);
	tcase_add_test(tc, pipeline_table);
	tcase_add_test(tc, subexpr_across_nodes);
	tcase_add_test(tc, subexpr_layout);
	tcase_add_test(tc, views_gemv_reads_in_place);
	tcase_add_test(tc, share_binds_repeats);
	tcase_add_test(tc, share_largest_first);
	tcase_add_test(tc, share_copy_and_pipeline);
	tcase_add_test(tc, differential_samples);
	tcase_add_test(tc, differential_random);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(passes_suite)
