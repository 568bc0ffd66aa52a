/* test_reuse.c: Check tests for reuse chains (compiler/reuse.c).
 *
 * Finding them: W5's gradient over a 32 MiB X is one chain z, r, g with
 * each member's row index and 16 row blocks; attention's 32 MiB scores
 * are one producer chain from the scores to the output, cut along two
 * indices (b into 4, h into 8: 1 MiB blocks, half a reader chain's);
 * producers are cut along rows an operand lacks, where the operand's
 * reads again come from cache (a slice of at most a block that
 * consecutive blocks read) or cost little, and not where they would
 * cost more than the read saved; a tensor one byte under the bound,
 * readers in one row group (a row max and the sum that subtracts it),
 * partial results that cost more than the read saved, and a member
 * fixed by hand make none.
 * Placing them, under every placer and 1 to 4 devices: each row block's
 * tasks on one device; the chain's priorities depth first (every task
 * of a block above every task of the next, members in node order); no
 * task below one of its readers.
 */
#include "unit.h"

static const char w5_src[] = "size N = 16384, D = 512\ninput X[N, D], w[D], y[N]\n"
                             "z[i] = sum[j](X[i, j] * w[j])\nr[i] = sigmoid(z[i]) - y[i]\n"
                             "g[j] = sum[i](X[i, j] * r[i]) / N\noutput g\n";

/* src compiled and through the passes; then reuse_find for devices. */
static UnitRun *reuse_compiled(const char *src, int devices, int *nchains)
{
	UnitRun *u = unit_compile_ok(src);
	order_contractions(&u->g);
	fuse_elementwise(&u->g);
	dce_remove(&u->g);
	*nchains = reuse_find(&u->g, devices, NULL, NULL);
	return u;
}

START_TEST(w5_is_one_chain)
{
	int n;
	UnitRun *u = reuse_compiled(w5_src, 2, &n);
	ck_assert_int_eq(n, 1);
	const TraGraph *g = &u->g;
	/* z's dot product is r's own (fusion: r is the only reader of z) */
	ck_assert_int_eq(unit_node_id(g, "z"), -1);
	int r = unit_node_id(g, "r"), gr = unit_node_id(g, "g");
	int x = unit_node_id(g, "X");
	ck_assert_int_eq(g->reuse[r].chain, 1);
	ck_assert_int_eq(g->reuse[gr].chain, 1);
	ck_assert_int_eq(g->reuse[x].chain, 0);
	ck_assert_int_eq(g->reuse[r].tensor, x);
	ck_assert_int_eq(g->reuse[r].ndims, 1);
	ck_assert_int_eq(g->reuse[r].blocks[0], 16); /* 32 MiB in 2 MiB blocks */
	/* r's row is its output i; g's is its reduced i */
	ck_assert_str_eq(g->nodes[r].idx[g->reuse[r].row[0]].name, "i");
	ck_assert_int_lt(g->reuse[r].row[0], g->nodes[r].rank);
	ck_assert_str_eq(g->nodes[gr].idx[g->reuse[gr].row[0]].name, "i");
	ck_assert_int_ge(g->reuse[gr].row[0], g->nodes[gr].rank);
	int *part = reuse_partition(&u->g, gr);
	for (int d = 0; d < g->nodes[gr].nidx; d++)
		ck_assert_int_eq(part[d], d == g->reuse[gr].row[0] ? 16 : 1);
	unit_free(u);
}
END_TEST

/* Attention over 4 x 8 heads of 512 x 512 scores (32 MiB in f32). */
static const char heads_src[] = "size B = 4, H = 8, S = 512, D = 8\n"
                                "input Q[B, H, S, D], K[B, H, S, D], V[B, H, S, D]\n"
                                "A[b, h, s, t] = sum[d](Q[b, h, s, d] * K[b, h, t, d]) / 8\n"
                                "M[b, h, s] = max[t](A[b, h, s, t])\n"
                                "E[b, h, s, t] = exp(A[b, h, s, t] - M[b, h, s])\n"
                                "O[b, h, s, d] = sum[t](E[b, h, s, t] * V[b, h, t, d]) / sum[t](E[b, h, s, t])\n"
                                "output O\n";

START_TEST(attention_is_one_producer_chain)
{
	int n;
	UnitRun *u = reuse_compiled(heads_src, 2, &n);
	ck_assert_int_eq(n, 1);
	const TraGraph *g = &u->g;
	int a = unit_node_id(g, "A");
	int members = 0;
	for (int v = 0; v < g->nnodes; v++) {
		const TraReuse *m = &g->reuse[v];
		if (g->nodes[v].kind == TRA_NODE_INPUT) {
			ck_assert_int_eq(m->chain, 0);
			continue;
		}
		/* every node from the scores to the output, cut along b and h */
		members++;
		ck_assert_int_eq(m->chain, 1);
		ck_assert_int_eq(m->tensor, a);
		ck_assert_int_eq(m->ndims, 2);
		ck_assert_int_eq(m->blocks[0], 4);
		ck_assert_int_eq(m->blocks[1], 8); /* 32 blocks of 1 MiB */
		ck_assert_str_eq(g->nodes[v].idx[m->row[0]].name, "b");
		ck_assert_str_eq(g->nodes[v].idx[m->row[1]].name, "h");
		int *part = reuse_partition(&u->g, v);
		for (int d = 0; d < g->nodes[v].nidx; d++)
			ck_assert_int_eq(part[d], d == m->row[0] ? 4 : d == m->row[1] ? 8 : 1);
	}
	ck_assert_int_eq(members, 5); /* A, M, E, O's sum of E, O */
	unit_free(u);
}
END_TEST

START_TEST(what_is_no_chain)
{
	int n;
	/* X one element under 32 MiB */
	UnitRun *u = reuse_compiled("size N = 16384, D = 511\ninput X[N, D], w[D], y[N]\n"
	                            "z[i] = sum[j](X[i, j] * w[j])\nr[i] = sigmoid(z[i]) - y[i]\n"
	                            "g[j] = sum[i](X[i, j] * r[i])\noutput g\n",
	                            2, &n);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(u->g.reuse);
	unit_free(u);
	/* a row group: the max and the sum of exponentials run row by row already */
	u = reuse_compiled("size N = 4096, D = 2048\ninput X[N, D]\nm[i] = max[j](X[i, j])\n"
	                   "s[i] = sum[j](exp(X[i, j] - m[i]))\noutput s\n",
	                   2, &n);
	ck_assert_int_eq(n, 0);
	unit_free(u);
	/* G's 16 partial blocks of 4 MB, and W (4 MB) per block, against a 32 MiB read */
	u = reuse_compiled("size N = 8192, D = 1024, K = 1024\ninput X[N, D], W[D, K]\n"
	                   "H[i, k] = relu(sum[j](X[i, j] * W[j, k]))\nG[j, k] = sum[i](X[i, j] * H[i, k])\n"
	                   "output G\n",
	                   2, &n);
	ck_assert_int_eq(n, 0);
	unit_free(u);
	/* a member fixed by --partition */
	u = unit_compile_ok(w5_src);
	order_contractions(&u->g);
	fuse_elementwise(&u->g);
	dce_remove(&u->g);
	int **fixed = arena_alloc(&u->arena, (size_t)u->g.nnodes * sizeof *fixed);
	fixed[unit_node_id(&u->g, "r")] = arena_alloc(&u->arena, 4 * sizeof **fixed);
	ck_assert_int_eq(reuse_find(&u->g, 2, fixed, NULL), 0);
	unit_free(u);
}
END_TEST

/* src with its one %d replaced by d, through reuse_compiled. */
static UnitRun *reuse_compiled_d(const char *src, int d, int *nchains)
{
	char buf[512];
	snprintf(buf, sizeof buf, src, d);
	return reuse_compiled(buf, 2, nchains);
}

START_TEST(producer_rows_an_operand_lacks)
{
	int n;
	/* H = X W (32 MiB) cut along i, which W (256 KiB) lacks: 32 blocks
	 * of 1 MiB, each reading W again (from cache) */
	const char *gemm = "size N = 8192, D = %d, K = 1024\ninput X[N, D], W[D, K]\n"
	                   "H[i, k] = sum[j](X[i, j] * W[j, k])\nG[i] = max[k](H[i, k])\noutput G\n";
	UnitRun *u = reuse_compiled_d(gemm, 64, &n);
	ck_assert_int_eq(n, 1);
	int h = unit_node_id(&u->g, "H");
	ck_assert_int_eq(u->g.reuse[h].chain, 1);
	ck_assert_int_eq(u->g.reuse[h].ndims, 1);
	ck_assert_int_eq(u->g.reuse[h].blocks[0], 32);
	ck_assert_str_eq(u->g.nodes[h].idx[u->g.reuse[h].row[0]].name, "i");
	ck_assert_int_eq(u->g.reuse[unit_node_id(&u->g, "G")].chain, 1);
	unit_free(u);
	/* W of 8 MiB read by each of 32 blocks: 256 MiB to save 32 */
	u = reuse_compiled_d(gemm, 2048, &n);
	ck_assert_int_eq(n, 0);
	unit_free(u);
	/* A (256 MiB) cut along b (8) and s (32); K lacks s, the last row
	 * index, so the 32 blocks of one b read one slice of K one after the
	 * other: at D = 16 (K 4 MiB, a slice 512 KiB) only the first reads it
	 * from memory; at D = 128 (a slice 4 MiB) each would */
	const char *scores = "size B = 8, S = 1024, T = 8192, D = %d\ninput Q[B, S, D], K[B, T, D]\n"
	                     "A[b, s, t] = sum[d](Q[b, s, d] * K[b, t, d])\nG[b, s] = max[t](A[b, s, t])\n"
	                     "output G\n";
	u = reuse_compiled_d(scores, 16, &n);
	ck_assert_int_eq(n, 1);
	int a = unit_node_id(&u->g, "A");
	ck_assert_int_eq(u->g.reuse[a].ndims, 2);
	ck_assert_int_eq(u->g.reuse[a].blocks[0], 8);
	ck_assert_int_eq(u->g.reuse[a].blocks[1], 32);
	unit_free(u);
	u = reuse_compiled_d(scores, 128, &n);
	ck_assert_int_eq(n, 0);
	unit_free(u);
}
END_TEST

/* The chain's join tasks of ia: whether t is one, its row block's start
 * (the lower bounds along its row indices, in C order). */
static bool chain_task(const IaGraph *ia, int t, int64_t *lo)
{
	const IaTask *k = &ia->tasks[t];
	if (k->kind != IA_JOIN || !ia->g->reuse[k->node].chain)
		return false;
	const TraReuse *m = &ia->g->reuse[k->node];
	*lo = 0;
	for (int j = 0; j < m->ndims; j++)
		*lo = *lo * ia->g->nodes[k->node].idx[m->row[j]].size + k->lo[m->row[j]];
	return true;
}

/* Each row block's tasks on one device, depth first, njoins of them. */
static void check_chain_placement(const IaGraph *ia, const char *what, int njoins_want)
{
	int njoins = 0;
	for (int a = 0; a < ia->ntasks; a++) {
		int64_t la, lb;
		for (int c = 0; c < ia->ncons[a]; c++)
			ck_assert_msg(ia->tasks[a].priority >= ia->tasks[ia->cons[a][c]].priority,
			              "%s: task %d below its reader %d", what, a, ia->cons[a][c]);
		if (!chain_task(ia, a, &la))
			continue;
		njoins++;
		for (int b = 0; b < ia->ntasks; b++) {
			if (b == a || !chain_task(ia, b, &lb))
				continue;
			if (la == lb)
				ck_assert_msg(ia->tasks[a].device == ia->tasks[b].device,
				              "%s: tasks %d and %d of one row block on two devices", what, a, b);
			bool first = la < lb || (la == lb && ia->tasks[a].node < ia->tasks[b].node);
			ck_assert_msg(first == (ia->tasks[a].priority > ia->tasks[b].priority),
			              "%s: tasks %d and %d not depth first", what, a, b);
		}
	}
	ck_assert_int_eq(njoins, njoins_want);
}

/* src's chains placed under every placer on 1 to 4 devices: njoins
 * join tasks in the chains, placed as check_chain_placement says. */
static void check_placed(const char *src, int njoins)
{
	SimModel m;
	sim_model_default(&m);
	for (int n = 1; n <= 4; n++)
		for (int k = PLACE_ROUNDROBIN; k <= PLACE_SEARCH; k++) {
			int nchains;
			UnitRun *u = reuse_compiled(src, n, &nchains);
			ck_assert_int_eq(nchains, 1);
			int **fixed = arena_alloc(&u->arena, (size_t)u->g.nnodes * sizeof *fixed);
			for (int v = 0; v < u->g.nnodes; v++)
				if (u->g.reuse[v].chain)
					fixed[v] = reuse_partition(&u->g, v);
			decomp_run(&u->g, &(DecompOptions){.devices = n, .fixed = fixed});
			IaGraph ia;
			ia_lower(&u->g, &u->arena, &ia);
			place_run(&ia, &(Placer){.kind = (PlaceKind)k, .search_calls = 50, .seed = 1}, n, &m);
			char what[100];
			snprintf(what, sizeof what, "%d devices, %s", n, place_name((PlaceKind)k));
			check_chain_placement(&ia, what, njoins);
			unit_free(u);
		}
}

START_TEST(placed_depth_first)
{
	check_placed(w5_src, 2 * 16); /* r (with z's dot product) and g */
	check_placed(heads_src, 5 * 32);
}
END_TEST

static Suite *reuse_suite(void)
{
	Suite *s = suite_create("reuse");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, w5_is_one_chain);
	tcase_add_test(tc, attention_is_one_producer_chain);
	tcase_add_test(tc, producer_rows_an_operand_lacks);
	tcase_add_test(tc, what_is_no_chain);
	tcase_add_test(tc, placed_depth_first);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(reuse_suite)
