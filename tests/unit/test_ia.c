/* test_ia.c: Check tests for the lowering to the task graph (compiler/ia.c).
 *
 * Hand-checked cases: a matrix product split 2x2x2 (8 joins, 4 in-place
 * aggregations, 8 leaves), a repartition between a producer split i:2
 * and a reader that wants (i:1, j:2), and a reader that wants exactly the
 * producer's blocks (no repartition). Then, for the samples at small
 * sizes and several device counts and manual partitions, structural
 * invariants: every element of every einsum is covered exactly once by
 * its final blocks, inputs come before the tasks that read them, and the
 * tasks' FLOPs add up to the graph's.
 */
#include "unit.h"

/* The graph of src, partitioned with fixed partitions (NULL for auto),
 * lowered into ia. */
static UnitRun *lowered(const char *src, int devices, const char *const *manual, int nmanual,
                        IaGraph *ia)
{
	UnitRun *u = unit_compile_ok(src);
	int **fixed = arena_alloc(&u->arena, (size_t)u->g.nnodes * sizeof *fixed);
	for (int i = 0; i < nmanual; i++) {
		int node, *part = arena_alloc(&u->arena, 64 * sizeof *part);
		char err[200];
		ck_assert_msg(decomp_parse_manual(&u->g, manual[i], &node, part, err, sizeof err), "%s", err);
		fixed[node] = part;
	}
	DecompOptions o = {.devices = devices, .fixed = fixed};
	decomp_run(&u->g, &o);
	ia_lower(&u->g, &u->arena, ia);
	return u;
}

static int count_kind(const IaGraph *ia, IaKind k, int node)
{
	int n = 0;
	for (int t = 0; t < ia->ntasks; t++)
		n += ia->tasks[t].kind == k && (node < 0 || ia->tasks[t].node == node);
	return n;
}

START_TEST(matmul_split_k)
{
	IaGraph ia;
	const char *m[] = {"C:i=2,j=2,k=2"};
	UnitRun *u = lowered("size N = 4, K = 6, M = 2\n"
	                     "input A[N, K], B[K, M]\n"
	                     "C[i, j] = sum[k](A[i, k] * B[k, j])\noutput C\n",
	                     2, m, 1, &ia);
	ck_assert_int_eq(count_kind(&ia, IA_JOIN, -1), 8);
	ck_assert_int_eq(count_kind(&ia, IA_AGG, -1), 4);
	ck_assert_int_eq(count_kind(&ia, IA_INPUT, -1), 8);
	ck_assert_int_eq(count_kind(&ia, IA_REPART, -1), 0);
	ck_assert_int_eq(ia.ntasks, 20);
	for (int t = 0; t < ia.ntasks; t++) {
		const IaTask *x = &ia.tasks[t];
		if (x->kind == IA_JOIN) {
			ck_assert_int_eq(x->nin, 2); /* a block of A and one of B */
			ck_assert(!x->final);
			ck_assert(x->gemm);
			ck_assert_int_eq(ia.ncons[t], 1);
			const IaTask *a = &ia.tasks[x->in[0]], *b = &ia.tasks[x->in[1]];
			ck_assert_int_eq(a->lo[0], x->lo[0]); /* A[i, k] */
			ck_assert_int_eq(a->lo[1], x->lo[2]);
			ck_assert_int_eq(b->lo[0], x->lo[2]); /* B[k, j] */
			ck_assert_int_eq(b->hi[1], x->hi[1]);
		} else if (x->kind == IA_AGG) {
			ck_assert_int_eq(x->nin, 2); /* the two halves of k */
			ck_assert(x->final);
			ck_assert_int_eq(ia.tasks[x->in[0]].lo[2], 0);
			ck_assert_int_eq(ia.tasks[x->in[1]].lo[2], 3);
			for (int i = 0; i < 2; i++) {
				ck_assert_int_eq(ia.tasks[x->in[i]].lo[0], x->lo[0]);
				ck_assert_int_eq(ia.tasks[x->in[i]].lo[1], x->lo[1]);
			}
		} else {
			ck_assert_int_eq(ia.ncons[t], 2); /* each block of A feeds both j */
		}
	}
	unit_free(u);
}
END_TEST

static const char repart_src[] =
	"size N = 6, M = 4\n"
	"input X[N], Y[M]\n"
	"A[i] = X[i] * 2\n"
	"B[i, j] = A[i] * Y[j]\n"
	"output B\n";

/* Whether every join of node name is marked GEMM-shaped, or none is
 * (false when they disagree). */
static bool joins_gemm(const IaGraph *ia, const UnitRun *u, const char *name, bool want)
{
	for (int t = 0; t < ia->ntasks; t++)
		if (ia->tasks[t].kind == IA_JOIN && strcmp(u->g.nodes[ia->tasks[t].node].name, name) == 0 &&
		    ia->tasks[t].gemm != want)
			return false;
	return true;
}

START_TEST(gemm_flag_is_the_block_plan)
{
	/* IaTask.gemm is what the back end does (gemm_plan, GEMM_BLOCKS): a
	 * shared weight is BLAS calls looped over n ... */
	IaGraph ia;
	const char *m1[] = {"Y:p=2"};
	UnitRun *u = lowered("size N = 3, O = 5, K = 7, P = 37\ninput W[O, K], X[N, K, P]\n"
	                     "Y[n, o, p] = sum[k](W[o, k] * X[n, k, p])\noutput Y\n", 2, m1, 1, &ia);
	ck_assert(joins_gemm(&ia, u, "Y", true));
	unit_free(u);
	/* ... a product whose result has b at stride 1 would need its result
	 * copied, which blocks do not do: a loop nest, not GEMM-shaped */
	const char *m2[] = {"C:i=2"};
	u = lowered("size Bt = 3, I = 5, J = 7, K = 6\ninput A[Bt, I, J], B[Bt, J, K]\n"
	            "C[i, k, b] = sum[j](A[b, i, j] * B[b, j, k])\noutput C\n", 2, m2, 1, &ia);
	ck_assert(joins_gemm(&ia, u, "C", false));
	unit_free(u);
	/* ... and so is a join that is not a product of two operands */
	u = lowered("size I = 5, J = 7\ninput A[I, J], B[I, J]\n"
	            "C[i] = sum[j](A[i, j] + B[i, j])\noutput C\n", 2, NULL, 0, &ia);
	ck_assert(joins_gemm(&ia, u, "C", false));
	unit_free(u);
}
END_TEST

START_TEST(repartition)
{
	IaGraph ia;
	const char *m[] = {"A:i=2", "B:i=1,j=2"};
	UnitRun *u = lowered(repart_src, 2, m, 2, &ia);
	int a = unit_node_id(&u->g, "A"), b = unit_node_id(&u->g, "B");
	ck_assert_int_eq(count_kind(&ia, IA_JOIN, a), 2);
	ck_assert_int_eq(count_kind(&ia, IA_JOIN, b), 2);
	ck_assert_int_eq(count_kind(&ia, IA_REPART, a), 1); /* one gather, shared */
	int r = -1;
	for (int t = 0; t < ia.ntasks; t++)
		if (ia.tasks[t].kind == IA_REPART)
			r = t;
	const IaTask *x = &ia.tasks[r];
	ck_assert_int_eq(x->lo[0], 0);
	ck_assert_int_eq(x->hi[0], 6);
	ck_assert_int_eq(x->nin, 2);
	ck_assert_int_eq(ia.tasks[x->in[0]].hi[0], 3);
	ck_assert_int_eq(ia.tasks[x->in[1]].lo[0], 3);
	ck_assert_int_eq(ia.ncons[r], 2); /* both blocks of B read it */
	for (int i = 0; i < ia.ncons[r]; i++)
		ck_assert_int_eq(ia.tasks[ia.ncons[r] ? ia.cons[r][i] : 0].node, b);
	unit_free(u);
	/* the same blocks: B's joins read A's joins directly */
	const char *same[] = {"A:i=2", "B:i=2,j=1"};
	u = lowered(repart_src, 2, same, 2, &ia);
	ck_assert_int_eq(count_kind(&ia, IA_REPART, -1), 0);
	b = unit_node_id(&u->g, "B");
	for (int t = 0; t < ia.ntasks; t++)
		if (ia.tasks[t].node == b)
			ck_assert_int_eq(ia.tasks[ia.tasks[t].in[0]].kind, IA_JOIN);
	unit_free(u);
	/* i:3 of 6 out of i:2: every wanted block is cut from one or two */
	const char *cut[] = {"A:i=2", "B:i=3"};
	u = lowered(repart_src, 2, cut, 2, &ia);
	ck_assert_int_eq(count_kind(&ia, IA_REPART, -1), 3);
	int nin = 0;
	for (int t = 0; t < ia.ntasks; t++)
		nin += ia.tasks[t].kind == IA_REPART ? ia.tasks[t].nin : 0;
	ck_assert_int_eq(nin, 4); /* [0,2) from one, [2,4) from both, [4,6) from one */
	unit_free(u);
}
END_TEST

/* Every einsum's final blocks cover each element exactly once; inputs
 * precede readers; FLOPs of joins and aggregations add up. */
static void check_invariants(UnitRun *u, const IaGraph *ia)
{
	const TraGraph *g = &u->g;
	for (int v = 0; v < g->nnodes; v++) {
		const TraNode *n = &g->nodes[v];
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		int64_t elems = tra_node_elements(n);
		int *cover = calloc((size_t)elems, sizeof *cover);
		for (int t = 0; t < ia->ntasks; t++) {
			const IaTask *x = &ia->tasks[t];
			if (x->node != v || !x->final)
				continue;
			for (int64_t e = 0; e < elems; e++) {
				int64_t r = e;
				bool in = true;
				for (int d = n->rank - 1; d >= 0; d--) {
					int64_t c = r % n->idx[d].size;
					r /= n->idx[d].size;
					in &= c >= x->lo[d] && c < x->hi[d];
				}
				cover[e] += in;
			}
		}
		for (int64_t e = 0; e < elems; e++)
			ck_assert_msg(cover[e] == 1, "%s: element %lld covered %d times", n->name, (long long)e, cover[e]);
		free(cover);
	}
	double flops = 0, want = 0;
	for (int t = 0; t < ia->ntasks; t++) {
		for (int i = 0; i < ia->tasks[t].nin; i++)
			ck_assert_int_lt(ia->tasks[t].in[i], t);
		if (ia->tasks[t].kind == IA_JOIN)
			flops += ia->tasks[t].flops;
	}
	for (int v = 0; v < g->nnodes; v++)
		want += g->nodes[v].flops;
	ck_assert_double_eq_tol(flops, want, 1e-6 * want + 1e-9);
}

static const char mlp_src[] =
	"size N = 12, D = 5, H = 6, C = 3\n"
	"input X[N, D]\ninput W1[D, H]\ninput b1[H]\ninput W2[H, C]\n"
	"Hd[i, j] = relu(sum[k](X[i, k] * W1[k, j]) + b1[j])\n"
	"Y[i, c]  = sum[k](Hd[i, k] * W2[k, c])\n"
	"M[i]     = max[c](Y[i, c])\n"
	"E[i, c]  = exp(Y[i, c] - M[i])\n"
	"P[i, c]  = E[i, c] / sum[c2](E[i, c2])\n"
	"output P\n";

static const char attention_src[] =
	"size B = 1, H = 2, S = 5, D = 3\n"
	"input Q[B, H, S, D], K[B, H, S, D], V[B, H, S, D]\n"
	"A[b, h, s, t] = sum[d](Q[b, h, s, d] * K[b, h, t, d]) / sqrt(D)\n"
	"M[b, h, s]    = max[t](A[b, h, s, t])\n"
	"E[b, h, s, t] = exp(A[b, h, s, t] - M[b, h, s])\n"
	"O[b, h, s, d] = sum[t](E[b, h, s, t] * V[b, h, t, d]) / sum[t](E[b, h, s, t])\n"
	"output O\n";

START_TEST(coverage)
{
	const char *srcs[] = {mlp_src, attention_src, repart_src};
	for (size_t i = 0; i < 3; i++)
		for (int n = 1; n <= 7; n += 2) {
			IaGraph ia;
			UnitRun *u = lowered(srcs[i], n, NULL, 0, &ia);
			check_invariants(u, &ia);
			unit_free(u);
		}
	/* uneven manual splits, with split reductions and epilogue operands */
	const char *m[] = {"Hd:i=5,j=4,k=3", "Y:i=7,k=2", "P:i=3,c=2"};
	IaGraph ia;
	UnitRun *u = lowered(mlp_src, 2, m, 3, &ia);
	check_invariants(u, &ia);
	int hd = unit_node_id(&u->g, "Hd");
	ck_assert_int_eq(count_kind(&ia, IA_AGG, hd), 20);
	for (int t = 0; t < ia.ntasks; t++)
		if (ia.tasks[t].kind == IA_AGG && ia.tasks[t].node == hd)
			ck_assert_int_eq(ia.tasks[t].nin, 3 + 1); /* three partials and a block of b1 */
	unit_free(u);
}
END_TEST

START_TEST(taskgraph_text)
{
	IaGraph ia;
	const char *m[] = {"C:k=2"};
	UnitRun *u = lowered("size N = 2, K = 4, M = 2\n"
	                     "input A[N, K], B[K, M]\n"
	                     "C[i, j] = sum[k](A[i, k] * B[k, j])\noutput C\n",
	                     1, m, 1, &ia);
	UnitMem mem;
	unit_mem_open(&mem);
	ia_dump_taskgraph(&ia, mem.f);
	const char *txt = unit_mem_text(&mem);
	ck_assert_msg(strstr(txt, "# taskgraph tasks=7 devices=0\n") == txt, "%s", txt);
	ck_assert_msg(strstr(txt, "\nt0 input A 0:2,0:2 in=- flops=0 bytes=16 dev=-1 prio=0\n"), "%s", txt);
	ck_assert_msg(strstr(txt, "\nt2 join C 0:2,0:2|0:2 in=t0,t1 flops="), "%s", txt);
	ck_assert_msg(strstr(txt, "\nt6 agg C 0:2,0:2 in=t2,t5 flops=8 "), "%s", txt);
	unit_mem_close(&mem);
	unit_free(u);
}
END_TEST

static Suite *ia_suite(void)
{
	Suite *s = suite_create("ia");
	TCase *tc = tcase_create("lower");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, matmul_split_k);
	tcase_add_test(tc, repartition);
	tcase_add_test(tc, gemm_flag_is_the_block_plan);
	tcase_add_test(tc, coverage);
	tcase_add_test(tc, taskgraph_text);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(ia_suite)
