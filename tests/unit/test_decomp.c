/* test_decomp.c: Check tests for the decomposition (compiler/decomp.c).
 *
 * The cost model is checked against values worked out by hand for a
 * matrix product C[i,j] = sum[k] A[i,k] * B[k,j] (even and uneven blocks,
 * split reductions) and for repartitions between a producer and a
 * consumer. The search is checked against an exhaustive search under the
 * same cost model (branch and bound over every node's candidates, in
 * topological order) on small graphs: a matrix chain, the MLP sample and
 * the attention sample at small sizes, each after the optimising passes,
 * for 2, 3 and 4 devices: the dynamic program must find the optimum's
 * cost, and the greedy search no less.
 */
#include "unit.h"

static const char matmul_src[] =
	"size N = 8, K = 8, M = 8\n"
	"input A[N, K], B[K, M]\n"
	"C[i, j] = sum[k](A[i, k] * B[k, j])\n"
	"output C\n";

/* Node cost of node name under the partition given as counts. */
static double node_cost(UnitRun *u, const char *name, const int *part)
{
	return decomp_node_cost(&u->g, unit_node_id(&u->g, name), part);
}

START_TEST(block_rule)
{
	ck_assert_int_eq(decomp_block_lo(5, 2, 0), 0);
	ck_assert_int_eq(decomp_block_lo(5, 2, 1), 2);
	ck_assert_int_eq(decomp_block_lo(5, 2, 2), 5);
	ck_assert_int_eq(decomp_block_lo(5, 3, 1), 1);
	ck_assert_int_eq(decomp_block_lo(5, 3, 2), 3);
	ck_assert_int_eq(decomp_block_lo(8, 4, 3), 6);
}
END_TEST

START_TEST(matmul_costs)
{
	UnitRun *u = unit_compile_ok(matmul_src);
	/* i:2 j:2: A read twice (64*2), B twice (64*2) */
	ck_assert_double_eq(node_cost(u, "C", (int[]){2, 2, 1}), 256);
	/* i:2 k:2: A once (64), B twice (128), partials (64/2)*(4-2) */
	ck_assert_double_eq(node_cost(u, "C", (int[]){2, 1, 2}), 256);
	/* k:4: A and B once each, partials 64*3 */
	ck_assert_double_eq(node_cost(u, "C", (int[]){1, 1, 4}), 320);
	/* i:4 j:2: A twice (128), B four times (256) */
	ck_assert_double_eq(node_cost(u, "C", (int[]){4, 2, 1}), 384);
	/* one block: each input once */
	ck_assert_double_eq(node_cost(u, "C", (int[]){1, 1, 1}), 128);
	unit_free(u);
}
END_TEST

START_TEST(uneven_costs)
{
	UnitRun *u = unit_compile_ok("size N = 5, K = 5, M = 5\n"
	                             "input A[N, K], B[K, M]\n"
	                             "C[i, j] = sum[k](A[i, k] * B[k, j])\n"
	                             "output C\n");
	/* k:2 of 5 ([0,2), [2,5)): 25 + 25 + 25 partials */
	ck_assert_double_eq(node_cost(u, "C", (int[]){1, 1, 2}), 75);
	/* i:3 k:2: A once, B three times, partials (25/3)*(6-3) */
	ck_assert_double_eq(node_cost(u, "C", (int[]){3, 1, 2}), 25 + 75 + 25);
	unit_free(u);
}
END_TEST

/* C[N=4, M=2], read by D at the same indices. */
static const char edge_src[] =
	"size N = 4, K = 3, M = 2\n"
	"input A[N, K], B[K, M]\n"
	"C[i, j] = sum[k](A[i, k] * B[k, j])\n"
	"D[i, j] = C[i, j] * 2\n"
	"output D\n";

START_TEST(edge_costs)
{
	UnitRun *u = unit_compile_ok(edge_src);
	int d = unit_node_id(&u->g, "D");
	/* the same blocks: nothing moves */
	ck_assert_double_eq(decomp_edge_cost(&u->g, d, 0, (int[]){2, 1, 1}, (int[]){2, 1}), 0);
	/* i:2 ([0,2), [2,4)) into i:3 ([0,1), [1,2), [2,4)): [2,4) is shared */
	ck_assert_double_eq(decomp_edge_cost(&u->g, d, 0, (int[]){2, 1, 1}, (int[]){3, 1}), 4);
	/* i:2 into j:2: no block coincides */
	ck_assert_double_eq(decomp_edge_cost(&u->g, d, 0, (int[]){2, 1, 1}, (int[]){1, 2}), 8);
	/* gathering everything into one block */
	ck_assert_double_eq(decomp_edge_cost(&u->g, d, 0, (int[]){4, 2, 3}, (int[]){1, 1}), 8);
	/* inputs are read in whatever blocks are wanted */
	int c = unit_node_id(&u->g, "C");
	ck_assert_double_eq(decomp_edge_cost(&u->g, c, 0, (int[]){1, 1}, (int[]){2, 2, 3}), 0);
	unit_free(u);
}
END_TEST

START_TEST(candidates)
{
	UnitRun *u = unit_compile_ok(matmul_src);
	int c = unit_node_id(&u->g, "C");
	for (int n = 1; n <= 5; n++) {
		int *v, nc = decomp_candidates(&u->g, c, n, &v);
		ck_assert_int_gt(nc, 0);
		bool odd = false;
		for (int i = 0; i < nc; i++) {
			int p = v[3 * i] * v[3 * i + 1] * v[3 * i + 2];
			ck_assert_msg(p == n || p == 2 * n || p == 4 * n, "n=%d: product %d", n, p);
			for (int d = 0; d < 3; d++) {
				ck_assert_int_ge(v[3 * i + d], 1);
				ck_assert_int_le(v[3 * i + d], 8);
				odd |= v[3 * i + d] == 3 || v[3 * i + d] == 5;
			}
		}
		ck_assert(odd == (n == 3 || n == 5));
	}
	/* a node smaller than the device count splits as far as it goes */
	UnitRun *t = unit_compile_ok("size N = 3\ninput X[N]\nY[i] = X[i] + 1\noutput Y\n");
	int *v, nc = decomp_candidates(&t->g, unit_node_id(&t->g, "Y"), 8, &v);
	ck_assert_int_eq(nc, 1);
	ck_assert_int_eq(v[0], 3);
	unit_free(t);
	unit_free(u);
}
END_TEST

/* ---- exhaustive search ------------------------------------------------------------ */

/* Branch and bound over every node's candidates, in topological order. */
typedef struct Exhaust {
	TraGraph *g;
	int devices;
	int *ncand;
	int **cand;
	int *chosen;
	double best;
} Exhaust;

static int *ex_part(Exhaust *x, int v)
{
	return x->cand[v] + (size_t)x->chosen[v] * (size_t)x->g->nodes[v].nidx;
}

static void ex_search(Exhaust *x, int v, double cost)
{
	if (cost >= x->best)
		return;
	if (v == x->g->nnodes) {
		x->best = cost;
		return;
	}
	if (x->ncand[v] == 0) {
		ex_search(x, v + 1, cost);
		return;
	}
	const TraNode *n = &x->g->nodes[v];
	for (x->chosen[v] = 0; x->chosen[v] < x->ncand[v]; x->chosen[v]++) {
		double c = decomp_node_cost(x->g, v, ex_part(x, v));
		for (int k = 0; k < n->nops; k++)
			if (x->ncand[n->ops[k].node])
				c += decomp_edge_cost(x->g, v, k, ex_part(x, n->ops[k].node), ex_part(x, v));
		ex_search(x, v + 1, cost + c);
	}
}

static double exhaustive(TraGraph *g, int devices)
{
	Exhaust x = {.g = g, .devices = devices, .best = 1e300};
	x.ncand = calloc((size_t)g->nnodes, sizeof *x.ncand);
	x.cand = calloc((size_t)g->nnodes, sizeof *x.cand);
	x.chosen = calloc((size_t)g->nnodes, sizeof *x.chosen);
	for (int v = 0; v < g->nnodes; v++)
		if (g->nodes[v].kind == TRA_NODE_EINSUM)
			x.ncand[v] = decomp_candidates(g, v, devices, &x.cand[v]);
	ex_search(&x, 0, 0);
	free(x.ncand);
	free(x.cand);
	free(x.chosen);
	return x.best;
}

static const char chain_src[] =
	"size A = 8, B = 4, C = 8, D = 2, E = 8\n"
	"input X[A, B], Y[B, C], Z[C, D], W[D, E]\n"
	"T1[i, k] = sum[j](X[i, j] * Y[j, k])\n"
	"T2[i, l] = sum[k](T1[i, k] * Z[k, l])\n"
	"T3[i, m] = sum[l](T2[i, l] * W[l, m])\n"
	"output T3\n";

static const char mlp_src[] =
	"size N = 8, D = 4, H = 8, C = 4\n"
	"input X[N, D]\ninput W1[D, H]\ninput b1[H]\ninput W2[H, C]\n"
	"Hd[i, j] = relu(sum[k](X[i, k] * W1[k, j]) + b1[j])\n"
	"Y[i, c]  = sum[k](Hd[i, k] * W2[k, c])\n"
	"M[i]     = max[c](Y[i, c])\n"
	"E[i, c]  = exp(Y[i, c] - M[i])\n"
	"P[i, c]  = E[i, c] / sum[c2](E[i, c2])\n"
	"output P\n";

static const char attention_src[] =
	"size B = 1, H = 2, S = 4, D = 2\n"
	"input Q[B, H, S, D], K[B, H, S, D], V[B, H, S, D]\n"
	"A[b, h, s, t] = sum[d](Q[b, h, s, d] * K[b, h, t, d]) / sqrt(D)\n"
	"M[b, h, s]    = max[t](A[b, h, s, t])\n"
	"E[b, h, s, t] = exp(A[b, h, s, t] - M[b, h, s])\n"
	"O[b, h, s, d] = sum[t](E[b, h, s, t] * V[b, h, t, d]) / sum[t](E[b, h, s, t])\n"
	"output O\n";

/* The program after the optimising passes, as the driver runs them. */
static UnitRun *optimised(const char *src)
{
	UnitRun *u = unit_compile_ok(src);
	order_contractions(&u->g);
	fuse_elementwise(&u->g);
	dce_remove(&u->g); /* fusion leaves what it inlined dead */
	tra_verify(&u->g);
	return u;
}

static void check_optimal(const char *src, const char *what)
{
	for (int n = 2; n <= 4; n++) {
		UnitRun *u = optimised(src);
		double best = exhaustive(&u->g, n);
		DecompOptions o = {.devices = n};
		double dp = decomp_run(&u->g, &o);
		ck_assert_msg(fabs(dp - best) < 1e-6 * (1 + best), "%s, %d devices: DP %g, optimum %g",
		              what, n, dp, best);
		ck_assert_double_eq_tol(decomp_graph_cost(&u->g), dp, 1e-9);
		o.greedy = true;
		double greedy = decomp_run(&u->g, &o);
		ck_assert_msg(greedy >= best - 1e-6, "%s: greedy %g below the optimum %g", what, greedy, best);
		unit_free(u);
	}
}

START_TEST(dp_chain) { check_optimal(chain_src, "matrix chain"); }
END_TEST

START_TEST(dp_mlp) { check_optimal(mlp_src, "mlp"); }
END_TEST

START_TEST(dp_attention) { check_optimal(attention_src, "attention"); }
END_TEST

START_TEST(dp_sets_partitions)
{
	UnitRun *u = optimised(mlp_src);
	DecompOptions o = {.devices = 4};
	decomp_run(&u->g, &o);
	for (int v = 0; v < u->g.nnodes; v++) {
		const TraNode *n = &u->g.nodes[v];
		ck_assert((n->part != NULL) == (n->kind == TRA_NODE_EINSUM));
		if (!n->part)
			continue;
		int p = 1;
		for (int d = 0; d < n->nidx; d++)
			p *= n->part[d];
		ck_assert_msg(p == 4 || p == 8 || p == 16, "%s has %d blocks", n->name, p);
	}
	o.none = true;
	ck_assert_double_eq(decomp_run(&u->g, &o), decomp_graph_cost(&u->g));
	for (int v = 0; v < u->g.nnodes; v++)
		for (int d = 0; u->g.nodes[v].part && d < u->g.nodes[v].nidx; d++)
			ck_assert_int_eq(u->g.nodes[v].part[d], 1);
	unit_free(u);
}
END_TEST

/* In stretches (DecompOptions.stretches), a result is cut along its first
 * index of size over 1 alone; reduced indices as before. */
START_TEST(candidates_in_stretches)
{
	UnitRun *u = unit_compile_ok(matmul_src);
	int c = unit_node_id(&u->g, "C");
	const TraNode *n = &u->g.nodes[c];
	for (int dev = 1; dev <= 8; dev++) {
		int *v, nc = decomp_candidates_in(&u->g, c, dev, true, &v);
		ck_assert_int_gt(nc, 0);
		bool cuts_k = false;
		for (int i = 0; i < nc; i++) {
			for (int d = 1; d < n->rank; d++)
				ck_assert_msg(v[n->nidx * i + d] == 1, "%d devices: a result index other than the first cut", dev);
			for (int d = n->rank; d < n->nidx; d++)
				cuts_k |= v[n->nidx * i + d] > 1;
		}
		ck_assert(dev == 1 || cuts_k); /* the reduced index may be cut */
	}
	/* a leading index of size 1 is passed over: the next is the one cut */
	UnitRun *t = unit_compile_ok("size N = 8\ninput X[1, N]\nY[a, i] = X[a, i] + 1\noutput Y\n");
	int *v, nc = decomp_candidates_in(&t->g, unit_node_id(&t->g, "Y"), 4, true, &v);
	ck_assert_int_gt(nc, 0);
	for (int i = 0; i < nc; i++)
		ck_assert_int_eq(v[2 * i], 1);
	ck_assert_int_eq(v[1], 4);
	/* the whole search keeps to it */
	UnitRun *m = optimised(mlp_src);
	DecompOptions o = {.devices = 4, .stretches = true};
	decomp_run(&m->g, &o);
	for (int id = 0; id < m->g.nnodes; id++) {
		const TraNode *x = &m->g.nodes[id];
		for (int d = 1; x->part && d < x->rank; d++)
			ck_assert_msg(x->part[d] == 1, "%s cut along result index %d", x->name, d);
	}
	unit_free(m);
	unit_free(t);
	unit_free(u);
}
END_TEST

START_TEST(manual)
{
	UnitRun *u = unit_compile_ok(matmul_src);
	int node, part[3];
	char err[200];
	ck_assert(decomp_parse_manual(&u->g, "C:i=4,k=2", &node, part, err, sizeof err));
	ck_assert_int_eq(node, unit_node_id(&u->g, "C"));
	ck_assert_int_eq(part[0], 4);
	ck_assert_int_eq(part[1], 1);
	ck_assert_int_eq(part[2], 2);
	ck_assert(!decomp_parse_manual(&u->g, "Z:i=2", &node, part, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "no einsum node 'Z'"));
	ck_assert(!decomp_parse_manual(&u->g, "A:i=2", &node, part, err, sizeof err));
	ck_assert(!decomp_parse_manual(&u->g, "C:q=2", &node, part, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "no index 'q'"));
	ck_assert(!decomp_parse_manual(&u->g, "C:i=9", &node, part, err, sizeof err));
	ck_assert(!decomp_parse_manual(&u->g, "C:i=0", &node, part, err, sizeof err));
	ck_assert(!decomp_parse_manual(&u->g, "C:i", &node, part, err, sizeof err));
	/* a fixed node keeps its partition */
	int *fixed[3] = {NULL, NULL, (int[]){1, 1, 8}};
	DecompOptions o = {.devices = 2, .fixed = fixed};
	decomp_run(&u->g, &o);
	ck_assert_int_eq(u->g.nodes[2].part[2], 8);
	unit_free(u);
}
END_TEST

/* The partition of node s on 2 devices, as counts per join index. */
static void assert_two_device_part(const char *src, const int *want)
{
	UnitRun *u = unit_compile_ok(src);
	DecompOptions o = {.devices = 2};
	decomp_run(&u->g, &o);
	const TraNode *n = &u->g.nodes[unit_node_id(&u->g, "s")];
	for (int d = 0; d < n->nidx; d++)
		ck_assert_msg(n->part[d] == want[d], "index %s: %d blocks, want %d", n->idx[d].name, n->part[d],
		              want[d]);
	unit_free(u);
}

/* Node s of src (two indices), decomposed for 2 devices, is cut i0 ways
 * along its first index and i1 along its second. */
static void assert_two_device_cut(const char *src, int i0, int i1)
{
	assert_two_device_part(src, (const int[]){i0, i1});
}

/* Loop kernels are not cut into contiguous runs shorter than 8 KiB when
 * another cut is as cheap: a column sum of 4 KiB rows splits its rows
 * (and aggregates two partial sums) rather than its columns, a map of
 * 8 KiB rows splits its rows; runs of 32 KiB may be cut. */
START_TEST(short_runs)
{
	assert_two_device_cut("size N = 8192, D = 1024\ninput X[N, D]\n"
	                      "s[j] = sum[i](X[i, j])\noutput s\n", 1, 2);
	assert_two_device_cut("size N = 2048, D = 2048\ninput X[N, D]\n"
	                      "s[i, j] = tanh(X[i, j])\noutput s\n", 2, 1);
	assert_two_device_cut("size N = 512, D = 16384\ninput X[N, D]\n"
	                      "s[j] = sum[i](X[i, j])\noutput s\n", 2, 1);
}
END_TEST

/* A product whose batch index is cut costs what a cut of its calls' N
 * dimension costs (the shared operand read once a block either way);
 * the tie goes to the batch, which leaves every GEMM call whole: the
 * shared-weight product (2 threads) took 17.0 ms cut along n, 17.8 along
 * p; the middle-axis one 14.0 ms along i, 16.8 along r. */
START_TEST(batch_cuts)
{
	static const int batch_cut[] = {2, 1, 1, 1};
	assert_two_device_part("size N = 8, O = 256, K = 256, P = 3136\ninput W[O, K], X[N, K, P]\n"
	                       "s[n, o, p] = sum[k](W[o, k] * X[n, k, p])\noutput s\n", batch_cut);
	assert_two_device_part("size N = 64, R = 4096\ninput C[N, N], T1[N, N, R]\n"
	                       "s[i, j, r] = sum[q](C[q, j] * T1[i, q, r])\noutput s\n", batch_cut);
}
END_TEST

static Suite *decomp_suite(void)
{
	Suite *s = suite_create("decomp");
	TCase *tc = tcase_create("cost");
	tcase_add_test(tc, block_rule);
	tcase_add_test(tc, matmul_costs);
	tcase_add_test(tc, uneven_costs);
	tcase_add_test(tc, edge_costs);
	tcase_add_test(tc, candidates);
	suite_add_tcase(s, tc);
	tc = tcase_create("search");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dp_chain);
	tcase_add_test(tc, dp_mlp);
	tcase_add_test(tc, dp_attention);
	tcase_add_test(tc, dp_sets_partitions);
	tcase_add_test(tc, candidates_in_stretches);
	tcase_add_test(tc, manual);
	tcase_add_test(tc, short_runs);
	tcase_add_test(tc, batch_cuts);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(decomp_suite)
