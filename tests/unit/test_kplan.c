/* test_kplan.c: Check tests for the kernel plans (compiler/kplan.c):
 * which nodes are BLAS calls and which loop nests, the loop order, the
 * vector loop, the reduction strategy (simd, columns, blocked) and its
 * accumulator, row groups and their chunks, and the block kernels of a
 * partitioned graph (split reductions and their aggregations, row groups
 * with a row dot and a row reducer) with their task table.
 *
 * Each test compiles a small program, runs the passes that shape nodes
 * as the driver does (order, fuse, dce), plans its kernels and states
 * one kernel's plan. The expected plans were worked out by hand from
 * kplan.c's rules: sizes are distinct, so that a size tells which index
 * it came from.
 */
#include "unit.h"
#include "kplan.h"

/* Compiles a valid program, runs the passes that decide the nodes'
 * shapes, and plans its whole-node kernels into kp. */
static UnitRun *planned(const char *src, KplanProgram *kp)
{
	UnitRun *u = unit_compile_ok(src);
	order_contractions(&u->g);
	tra_verify(&u->g);
	fuse_elementwise(&u->g);
	dce_remove(&u->g); /* fusion leaves what it inlined dead */
	tra_verify(&u->g);
	kplan_build(&u->g, NULL, NULL, kp);
	return u;
}

/* A valid program after every pass of the driver's table (views.c's
 * reads in place included). */
static UnitRun *passed_all(const char *src)
{
	UnitRun *u = unit_compile_ok(src);
	for (int i = 0; i < driver_npasses; i++) {
		driver_passes[i].run(&u->g);
		tra_verify(&u->g);
	}
	return u;
}

/* The same, its whole-node kernels planned into kp. */
static UnitRun *planned_all(const char *src, KplanProgram *kp)
{
	UnitRun *u = passed_all(src);
	kplan_build(&u->g, NULL, NULL, kp);
	return u;
}

static int node_id(const UnitRun *u, const char *name)
{
	for (int v = 0; v < u->g.nnodes; v++)
		if (strcmp(u->g.nodes[v].name, name) == 0)
			return v;
	ck_abort_msg("no node %s", name);
	return -1;
}

/* The own kernel (BLAS or loops) of node name. */
static const Kplan *kernel_of(const UnitRun *u, const KplanProgram *kp, const char *name)
{
	int k = kp->node_plan[node_id(u, name)];
	ck_assert_int_ge(k, 0);
	return &kp->kernels[k];
}

/* "i j k": the names of indices xs of node name. */
static const char *names(UnitRun *u, const char *name, const int *xs, int n)
{
	const TraNode *v = &u->g.nodes[node_id(u, name)];
	char buf[256] = "";
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? " " : "", v->idx[xs[i]].name);
	return arena_strndup(&u->arena, buf, len);
}

/* A loop nest in one line: "loops ORDER | red RED | vector V | KIND[ blocked]". */
static const char *nest_str(UnitRun *u, const KplanProgram *kp, const char *name)
{
	const Kplan *k = kernel_of(u, kp, name);
	ck_assert_int_eq(k->kind, KPLAN_LOOPS);
	const KplanNest *L = &k->nest;
	const TraNode *v = &u->g.nodes[L->node];
	return arena_printf(&u->arena, "loops %s | red %s | vector %s | %s%s", names(u, name, L->order, L->norder),
	                    names(u, name, L->red, L->nred), L->vector >= 0 ? v->idx[L->vector].name : "-",
	                    kplan_reduce_name(L->reduce), L->blocked ? " blocked" : "");
}

/* A BLAS plan's groups in one line: "gemm batch .. M .. N .. K ..". */
static const char *blas_str(UnitRun *u, const KplanProgram *kp, const char *name)
{
	const Kplan *k = kernel_of(u, kp, name);
	ck_assert_int_eq(k->kind, KPLAN_BLAS);
	const GemmPlan *p = &k->gemm;
	return arena_printf(&u->arena, "%s batch %s M %s N %s K %s%s%s", k->gemv ? "gemv" : "gemm",
	                    names(u, name, p->batch.x, p->batch.n), names(u, name, p->m.x, p->m.n),
	                    names(u, name, p->nn.x, p->nn.n), names(u, name, p->k.x, p->k.n),
	                    p->A.scratch || p->B.scratch ? " copies" : "", p->epilogue ? " epilogue" : "");
}

/* ---- BLAS ------------------------------------------------------------------------ */

START_TEST(plan_gemm)
{
	KplanProgram kp;
	UnitRun *u = planned("size I = 5, J = 7, K = 3\ninput A[I, J], B[J, K]\n"
	                     "C[i, k] = sum[j](A[i, j] * B[j, k])\noutput C\n", &kp);
	ck_assert_str_eq(blas_str(u, &kp, "C"), "gemm batch  M i N k K j");
	const Kplan *k = kernel_of(u, &kp, "C");
	ck_assert(!k->block && !k->gemv && !k->gemm.epilogue);
	ck_assert(!k->gemm.A.trans && !k->gemm.B.trans);
	ck_assert_int_eq(k->gemm.A.ld, 7);
	ck_assert_int_eq(k->gemm.B.ld, 3);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_gemm_layout)
{
	KplanProgram kp;
	/* A stored transposed (j first), the bias and relu an epilogue */
	UnitRun *u = planned("size I = 5, J = 7, K = 3\ninput A[J, I], B[J, K], c[K]\n"
	                     "C[i, k] = relu(sum[j](A[j, i] * B[j, k]) + c[k])\noutput C\n", &kp);
	const Kplan *k = kernel_of(u, &kp, "C");
	ck_assert_int_eq(k->kind, KPLAN_BLAS);
	ck_assert(k->gemm.A.trans);
	ck_assert_int_eq(k->gemm.A.ld, 5);
	ck_assert(!k->gemm.B.trans);
	ck_assert_int_eq(k->gemm.B.ld, 3);
	ck_assert_int_eq(k->gemm.C.ld, 3);
	ck_assert(k->gemm.epilogue);
	ck_assert(!k->panels); /* 5 rows: one panel would be all of them */
	ck_assert_double_eq(k->gemm.alpha, 1);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_gemm_panels)
{
	KplanProgram kp;
	UnitRun *u = planned("size I = 600, J = 7, K = 30\ninput A[I, J], B[J, K], c[K]\n"
	                     "C[i, k] = relu(sum[j](A[i, j] * B[j, k]) + c[k])\noutput C\n", &kp);
	ck_assert(kernel_of(u, &kp, "C")->panels);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_gemv)
{
	KplanProgram kp;
	UnitRun *u = planned("size I = 7, J = 5\ninput A[I, J], x[J]\n"
	                     "y[i] = sum[j](A[i, j] * x[j])\noutput y\n", &kp);
	ck_assert_str_eq(blas_str(u, &kp, "y"), "gemv batch  M i N  K j");
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_shared_weight)
{
	KplanProgram kp;
	/* ok,nkp->nop: one call per n, every call reading W at one origin */
	UnitRun *u = planned("size N = 3, O = 5, K = 7, P = 257\ninput W[O, K], X[N, K, P]\n"
	                     "Y[n, o, p] = sum[k](W[o, k] * X[n, k, p])\noutput Y\n", &kp);
	ck_assert_str_eq(blas_str(u, &kp, "Y"), "gemm batch n M o N p K k");
	/* W does not move with n (index 0), X moves by a K x P slice */
	const GemmPlan *p = &kernel_of(u, &kp, "Y")->gemm;
	ck_assert_int_eq(p->A.stride[0], 0);
	ck_assert_int_eq(p->B.stride[0], 7 * 257);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* ---- which nodes are GEMMs (moved from test_codegen) ------------------------- */

/* The kind of node name's own kernel: "blas" or "loops". */
static const char *kind_of(const char *src, const char *name)
{
	KplanProgram kp;
	UnitRun *u = planned(src, &kp);
	const char *k = kplan_kind_name(kernel_of(u, &kp, name)->kind);
	kplan_free(&kp);
	unit_free(u);
	return k;
}

#define PROG(sizes, a, b, lhs, rhs) \
	"size " sizes "\ninput A[" a "], B[" b "]\n" lhs " = sum[j](" rhs ")\noutput C\n"

START_TEST(loops_not_gemm)
{
	/* a diagonal A[i, i] is no matrix */
	ck_assert_str_eq(kind_of("size I = 5, J = 7\ninput A[I, I], B[I, J]\n"
	                         "C[j] = sum[i](A[i, i] * B[i, j])\noutput C\n", "C"), "loops");
	/* l is summed but only A reads it: the order pass sums A over l
	 * first (C.c1), which leaves C a GEMM */
	const char *al = "size I = 5, J = 7, K = 3, L = 6\ninput A[I, J, L], B[J, K]\n"
	                 "C[i, k] = sum[j, l](A[i, j, l] * B[j, k])\noutput C\n";
	ck_assert_str_eq(kind_of(al, "C"), "blas");
	ck_assert_str_eq(kind_of(al, "C.c1"), "loops");
	/* not a sum */
	ck_assert_str_eq(kind_of(PROG("I = 5, J = 7, K = 3", "I, J", "J, K", "C[i, k]", "A[i, j] * B[j, k]")
	                         "D[i, k] = max[j](A[i, j] * B[j, k])\noutput D\n", "D"), "loops");
	/* not a product of two operands */
	ck_assert_str_eq(kind_of(PROG("I = 5, J = 7, K = 3", "I, J", "J, K", "C[i, k]", "A[i, j] + B[j, k]"),
	                         "C"), "loops");
	ck_assert_str_eq(kind_of(PROG("I = 5, J = 7, K = 3", "I, J", "J, K", "C[i, k]",
	                              "A[i, j] * exp(B[j, k])"), "C"), "loops");
	/* a map of B fused into the product would hide it: it stays a GEMM */
	ck_assert_str_eq(kind_of("size I = 5, J = 7, K = 3\ninput A[I, J], B[J, K]\n"
	                         "E[j, k] = exp(B[j, k])\n"
	                         "C[i, k] = sum[j](A[i, j] * E[j, k])\noutput C\n", "C"), "blas");
}
END_TEST

/* gemm.c's BLAS or loops: many tiny products are a loop nest */
START_TEST(tiny_products_loop)
{
	static const struct {
		const char *src, *want;
	} cases[] = {
		/* 3 x 3 rotations of 2^20 points: 2^20 gemv calls of 18 flops */
		{"size N = 1048576\ninput R[N, 3, 3], P[N, 3]\nC[n, i] = sum[j](R[n, i, j] * P[n, j])\noutput C\n",
		 "loops"},
		/* batches of 4 x 4 products lose to the nest, of 8 x 8 win */
		{"size N = 262144, S = 4\ninput A[N, S, S], B[N, S, S]\n"
		 "C[n, i, k] = sum[j](A[n, i, j] * B[n, j, k])\noutput C\n", "loops"},
		{"size N = 32768, S = 8\ninput A[N, S, S], B[N, S, S]\n"
		 "C[n, i, k] = sum[j](A[n, i, j] * B[n, j, k])\noutput C\n", "blas"},
		/* under GEMM_LOOP_MIN_CALLS calls, BLAS stays (1023, then 1024) */
		{"size N = 1023, S = 4\ninput A[N, S, S], B[N, S, S]\n"
		 "C[n, i, k] = sum[j](A[n, i, j] * B[n, j, k])\noutput C\n", "blas"},
		{"size N = 1024, S = 4\ninput A[N, S, S], B[N, S, S]\n"
		 "C[n, i, k] = sum[j](A[n, i, j] * B[n, j, k])\noutput C\n", "loops"},
		/* one call, however small */
		{"size I = 2, J = 2, K = 2\ninput A[I, J], B[J, K]\nC[i, k] = sum[j](A[i, j] * B[j, k])\noutput C\n",
		 "blas"},
		/* f64 loops at half the rate: 5 x 5 products win as BLAS, not at f32 */
		{"size N = 131072, S = 5\ninput A[N, S, S] f64, B[N, S, S] f64\n"
		 "C[n, i, k] = sum[j](A[n, i, j] * B[n, j, k])\noutput C\n", "blas"},
		{"size N = 131072, S = 5\ninput A[N, S, S], B[N, S, S]\n"
		 "C[n, i, k] = sum[j](A[n, i, j] * B[n, j, k])\noutput C\n", "loops"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
		ck_assert_msg(strcmp(kind_of(cases[c].src, "C"), cases[c].want) == 0, "case %zu: %s, want %s", c,
		              kind_of(cases[c].src, "C"), cases[c].want);
}
END_TEST

/* ---- loop nests ------------------------------------------------------------------ */

START_TEST(plan_map)
{
	KplanProgram kp;
	UnitRun *u = planned("size I = 5, J = 70\ninput X[I, J]\nY[i, j] = exp(X[i, j]) + 1\noutput Y\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "Y"), "loops i j | red  | vector j | none");
	const Kplan *k = kernel_of(u, &kp, "Y");
	ck_assert_int_eq(k->nest.split, 0);
	ck_assert_int_eq(k->nest.join, u->g.nodes[node_id(u, "Y")].join);
	/* a row group of one: 8192 join points per chunk, 70 a row */
	int r = kp.rows_plan[node_id(u, "Y")];
	ck_assert_int_ge(r, 0);
	ck_assert_int_eq(kp.kernels[r].nmembers, 1);
	ck_assert_int_eq(kp.kernels[r].chunk, 8192 / 70);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_row_sum)
{
	KplanProgram kp;
	/* 100 terms: one simd reduction along j, the contiguous index */
	UnitRun *u = planned("size I = 5, J = 100\ninput X[I, J]\ns[i] = sum[j](X[i, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops i j | red j | vector j | simd");
	ck_assert_double_eq(kernel_of(u, &kp, "s")->nest.init, 0);
	kplan_free(&kp);
	unit_free(u);
	/* 1000 terms: blocks of 256 summed pairwise */
	u = planned("size I = 5, J = 1000\ninput X[I, J]\ns[i] = sum[j](X[i, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops i j | red j | vector j | simd blocked");
	ck_assert_int_eq(kernel_of(u, &kp, "s")->nest.sum_block, KPLAN_SUM_BLOCK);
	kplan_free(&kp);
	unit_free(u);
	/* two reduced indices: the one X walks contiguously (j) inside */
	u = planned("size I = 5, J = 30, K = 7\ninput X[K, I, J]\ns[i] = sum[j, k](X[k, i, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops i k j | red k j | vector j | simd");
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_max)
{
	KplanProgram kp;
	UnitRun *u = planned("size I = 5, J = 1000\ninput X[I, J]\nm[i] = max[j](X[i, j])\noutput m\n", &kp);
	const KplanNest *L = &kernel_of(u, &kp, "m")->nest;
	ck_assert_int_eq(L->reduce, KPLAN_RED_SIMD);
	ck_assert(!L->blocked); /* only sums are blocked: max is exact */
	ck_assert(L->nan_flag);
	ck_assert(isinf(L->init) && L->init < 0);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* argmax and argmin: 16 lanes from 64 terms on (kplan.c's arg
 * reductions), one scalar loop below; of a 4-byte type, 32 lanes from
 * 1024 terms on and 64 from 2048 (kplan_arg_lanes); of an 8-byte type,
 * 16 however long */
START_TEST(plan_arg_lanes)
{
	KplanProgram kp;
	UnitRun *u = planned("size I = 5, J = 64, K = 63, L = 1023, M = 1024, N = 2047, P = 2048\n"
	                     "input X[I, J], Y[I, K], Z[I, L], W[I, M], V[I, M] i32, U[I, N], T[I, P]\n"
	                     "a[i] = argmax[j](X[i, j])\nb[i] = argmin[k](Y[i, k])\n"
	                     "c[i] = argmax[l](Z[i, l])\nd[i] = argmax[m](W[i, m])\n"
	                     "e[i] = argmin[m](f64(W[i, m]))\nf[i] = argmax[m](V[i, m])\n"
	                     "h[i] = argmax[m](i64(V[i, m]))\nq[i] = argmax[n](U[i, n])\n"
	                     "r[i] = argmin[p](T[i, p])\ns[i] = argmax[p](f64(T[i, p]))\n"
	                     "output a, b, c, d, e, f, h, q, r, s\n", &kp);
	static const struct {
		const char *node;
		int lanes;
	} want[] = {{"a.r1", KPLAN_ARG_LANES}, {"b.r1", 1}, {"c.r1", KPLAN_ARG_LANES}, {"d.r1", 32}, {"e.r1", 16},
	            {"f.r1", 32}, {"h.r1", 16}, {"q.r1", 32}, {"r.r1", 64}, {"s.r1", 16}};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		const KplanNest *L = &kernel_of(u, &kp, want[i].node)->nest;
		ck_assert_int_eq(L->reduce, KPLAN_RED_ARG);
		ck_assert_msg(L->arg_lanes == want[i].lanes, "%s: %d lanes, not %d", want[i].node,
		              L->arg_lanes, want[i].lanes);
	}
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_column_sum)
{
	KplanProgram kp;
	/* s[j] = sum[i](X[i, j]): j walks X contiguously, i by rows: a tile
	 * of partial sums along j, i outside */
	UnitRun *u = planned("size I = 100, J = 64\ninput X[I, J]\ns[j] = sum[i](X[i, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops i j | red i | vector j | columns");
	ck_assert_int_eq(kernel_of(u, &kp, "s")->nest.column_tile, KPLAN_COLUMN_TILE);
	kplan_free(&kp);
	unit_free(u);
	/* 1000 terms: the tile is added into two levels of blocks */
	u = planned("size I = 1000, J = 64\ninput X[I, J]\ns[j] = sum[i](X[i, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops i j | red i | vector j | columns blocked");
	kplan_free(&kp);
	unit_free(u);
	/* a last index shorter than 16 keeps the plain nest */
	u = planned("size I = 100, J = 8\ninput X[I, J]\ns[j] = sum[i](X[i, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops j i | red i | vector i | simd");
	kplan_free(&kp);
	unit_free(u);
	/* s[i, j] = sum[k](X[i, k, j]): the outer output index stays outside */
	u = planned("size I = 3, K = 50, J = 64\ninput X[I, K, J]\ns[i, j] = sum[k](X[i, k, j])\noutput s\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "s"), "loops i k j | red k | vector j | columns");
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* A sum of fewer terms than KPLAN_COLUMN_MIN runs along the output (a
 * tile of partial results, every lane busy) where one of its indices
 * walks the largest operand as contiguously as the last output index (a
 * convolution's window); a longer one runs along its terms, and so does
 * a short one whose terms are more contiguous than the outputs (a short
 * row sum, a 2 x 2 max pool). */
START_TEST(plan_short_sums)
{
	KplanProgram kp;
	UnitRun *u = planned_all("size N = 300, B = 3\ninput x[N], w[9], v[40], X[B, N], Q[N, 4], R[N, 8], S[N, N]\n"
	                         "y[i] = sum[k](x[i + k] * w[k])\n"
	                         "yb[b, i] = sum[k](X[b, i + k] * w[k])\n"
	                         "y40[i] = sum[k](x[i + k] * v[k])\n"
	                         "q[i] = sum[k](Q[i, k])\n"
	                         "r[i] = sum[k:4](R[i, k])\n"
	                         "P[i:N/2, j:N/2] = max[a:2, c:2](S[2 * i + a, 2 * j + c])\n"
	                         "output y, yb, y40, q, r, P\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "y"), "loops k i | red k | vector i | columns");
	ck_assert_str_eq(nest_str(u, &kp, "yb"), "loops b k i | red k | vector i | columns");
	ck_assert_str_eq(nest_str(u, &kp, "q"), "loops i k | red k | vector k | simd");
	ck_assert_str_eq(nest_str(u, &kp, "P"), "loops i j a c | red a c | vector c | simd");
	ck_assert_str_eq(nest_str(u, &kp, "y40"), "loops i k | red k | vector k | simd");
	ck_assert_str_eq(nest_str(u, &kp, "r"), "loops i k | red k | vector k | simd");
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* ---- row groups -------------------------------------------------------------------- */

static const char *softmax = "size N = 6, D = 100\ninput X[N, D]\n"
                             "M[i] = max[j](X[i, j])\n"
                             "E[i, j] = exp(X[i, j] - M[i])\n"
                             "Z[i] = sum[j](E[i, j])\n"
                             "P[i, j] = E[i, j] / Z[i]\noutput P\n";

START_TEST(plan_row_group)
{
	KplanProgram kp;
	UnitRun *u = planned(softmax, &kp);
	int m = node_id(u, "M");
	ck_assert_int_eq(kp.leader[node_id(u, "E")], m);
	ck_assert_int_eq(kp.leader[node_id(u, "Z")], m);
	ck_assert_int_eq(kp.leader[node_id(u, "P")], m);
	int r = kp.rows_plan[m];
	ck_assert_int_ge(r, 0);
	const Kplan *k = &kp.kernels[r];
	ck_assert_int_eq(k->kind, KPLAN_ROWS);
	ck_assert_int_eq(k->nmembers, 4);
	const char *order[] = {"M", "E", "Z", "P"};
	for (int i = 0; i < 4; i++)
		ck_assert_str_eq(u->g.nodes[k->members[i]].name, order[i]);
	/* rows of 100 join points: 81 rows per chunk of 8192 */
	ck_assert_int_eq(k->chunk, 81);
	/* the group comes after its last member, and is one kernel */
	ck_assert_int_gt(r, kp.node_plan[node_id(u, "P")]);
	for (int v = 0; v < u->g.nnodes; v++)
		ck_assert(v == m || kp.rows_plan[v] < 0);
	kplan_free(&kp);
	unit_free(u);
	/* long rows: one row per chunk */
	u = planned("size N = 6, D = 10000\ninput X[N, D]\n"
	            "M[i] = max[j](X[i, j])\nE[i, j] = exp(X[i, j] - M[i])\noutput E\n", &kp);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[node_id(u, "M")]].chunk, 1);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* A_k = A_(k-1) * 0.5 + A_(k-2) + Z_k for k < n: n maps each read
 * twice, fused into fewer (as lets) that form row groups (wide.py's fib). */
static char *fib_program(int n)
{
	size_t cap = 64 + 64 * (size_t)n;
	char *s = xmalloc(cap);
	int len = snprintf(s, cap, "size N = 64\ninput X[N], Y[N]\nA0[i] = X[i] * 2\nA1[i] = Y[i] * 3\n");
	for (int k = 2; k < n; k++)
		len += snprintf(s + len, cap - (size_t)len, "input Z%d[N]\nA%d[i] = A%d[i] * 0.5 + A%d[i] + Z%d[i]\n", k,
		                k, k - 1, k - 2, k);
	snprintf(s + len, cap - (size_t)len, "output A%d\n", n - 1);
	return s;
}

START_TEST(plan_row_calls)
{
	/* up to KPLAN_INLINE_MEMBERS members are inlined into the chunk
	   loop; beyond, each member's row function is called: groups of
	   both kinds, the boundary included, over programs of growing size */
	bool inlined_at_most = false, called_above = false;
	for (int n = 8; n <= 80; n++) {
		KplanProgram kp;
		char *src = fib_program(n);
		UnitRun *u = planned(src, &kp);
		for (int r = 0; r < kp.nkernels; r++) {
			const Kplan *k = &kp.kernels[r];
			if (k->kind != KPLAN_ROWS)
				continue;
			ck_assert(k->calls == (k->nmembers > KPLAN_INLINE_MEMBERS));
			for (int i = 0; i < k->nmembers; i++)
				ck_assert(kplan_member_called(&kp, k->members[i]) == k->calls);
			inlined_at_most |= k->nmembers == KPLAN_INLINE_MEMBERS;
			called_above |= k->nmembers == KPLAN_INLINE_MEMBERS + 1;
		}
		kplan_free(&kp);
		unit_free(u);
		free(src);
	}
	ck_assert(inlined_at_most && called_above);
}
END_TEST

START_TEST(plan_row_prefetch)
{
	KplanProgram kp;
	/* log-sum-exp: M brings X's row from memory, Y's blocked sum reads it
	   from cache and prefetches X's next row, 4096 floats on */
	UnitRun *u = planned("size N = 6, D = 4096\ninput X[N, D]\n"
	                     "M[i] = max[j](X[i, j])\nY[i] = sum[j](exp(X[i, j] - M[i]))\noutput Y\n", &kp);
	const KplanNest *y = &kernel_of(u, &kp, "Y")->nest;
	ck_assert(y->blocked);
	ck_assert_int_ge(y->prefetch, 0);
	ck_assert_int_eq(u->g.nodes[node_id(u, "Y")].ops[y->prefetch].node, node_id(u, "X"));
	ck_assert_int_eq(y->prefetch_stride, 4096);
	ck_assert_int_eq(kernel_of(u, &kp, "M")->nest.prefetch, -1); /* the first member streams it */
	kplan_free(&kp);
	unit_free(u);
	/* a short sum is not blocked, and the row comes whole: no prefetch */
	u = planned("size N = 6, D = 200\ninput X[N, D]\n"
	            "M[i] = max[j](X[i, j])\nY[i] = sum[j](exp(X[i, j] - M[i]))\noutput Y\n", &kp);
	ck_assert_int_eq(kernel_of(u, &kp, "Y")->nest.prefetch, -1);
	kplan_free(&kp);
	unit_free(u);
	/* whole nodes: Z is a GEMV (an output, so that fusion does not make
	   it R's), so S is the group's first blocked sum to read X; W[j],
	   the same for every row, is not a row's */
	u = planned("size N = 6, D = 4096\ninput X[N, D], W[D]\n"
	            "Z[i] = sum[j](X[i, j] * W[j])\nR[i] = exp(Z[i])\nS[i] = sum[j](X[i, j] * R[i])\noutput S, Z\n",
	            &kp);
	ck_assert_int_eq(kernel_of(u, &kp, "Z")->kind, KPLAN_BLAS);
	const KplanNest *sn = &kernel_of(u, &kp, "S")->nest;
	ck_assert_int_ge(sn->prefetch, 0);
	ck_assert_int_eq(u->g.nodes[node_id(u, "S")].ops[sn->prefetch].node, node_id(u, "X"));
	kplan_free(&kp);
	unit_free(u);
	/* E is made row by row in the group: its next row is not there yet */
	u = planned("size N = 6, D = 4096\ninput X[N, D]\nM[i] = max[j](X[i, j])\n"
	            "E[i, j] = exp(X[i, j] - M[i])\nS[i] = sum[j](E[i, j])\noutput E, S\n", &kp);
	ck_assert_int_eq(kp.leader[node_id(u, "S")], node_id(u, "M"));
	ck_assert_int_eq(kernel_of(u, &kp, "S")->nest.prefetch, -1);
	kplan_free(&kp);
	unit_free(u);
	/* a lone long sum prefetches the row it streams too: its blocks'
	   sums leave too few loads in flight (kplan_lone_prefetch) */
	u = planned("size N = 6, D = 4096\ninput X[N, D]\nY[i] = sum[j](exp(X[i, j]))\noutput Y\n", &kp);
	const KplanNest *lone = &kernel_of(u, &kp, "Y")->nest;
	ck_assert_int_ge(lone->prefetch, 0);
	ck_assert_int_eq(u->g.nodes[node_id(u, "Y")].ops[lone->prefetch].node, node_id(u, "X"));
	ck_assert_int_eq(lone->prefetch_stride, 4096);
	kplan_free(&kp);
	unit_free(u);
	/* but not a total, which has no rows, nor a short sum */
	u = planned("size N = 6, D = 4096\ninput X[N, D], Z[N, 100]\nt = sum[i, j](X[i, j])\n"
	            "s[i] = sum[j](Z[i, j])\noutput t, s\n", &kp);
	ck_assert_int_eq(kernel_of(u, &kp, "t")->nest.prefetch, -1);
	ck_assert_int_eq(kernel_of(u, &kp, "s")->nest.prefetch, -1);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(row_group_breaks)
{
	KplanProgram kp;
	/* T reads S at its second index, not its first: a new group */
	UnitRun *u = planned("size N = 6\ninput X[N, N]\nS[i, j] = exp(X[i, j])\n"
	                     "T[i, j] = S[j, i] + 1\noutput T\n", &kp);
	ck_assert_int_eq(kp.leader[node_id(u, "T")], node_id(u, "T"));
	kplan_free(&kp);
	unit_free(u);
	/* a GEMM between two maps ends the group: C would join A's */
	u = planned("size N = 6, K = 7\ninput X[N, K], W[K, N]\nA[i, k] = exp(X[i, k])\n"
	            "B[i, j] = sum[k](A[i, k] * W[k, j])\nC[i, k] = A[i, k] + 1\noutput B, C\n", &kp);
	ck_assert_int_eq(kernel_of(u, &kp, "B")->kind, KPLAN_BLAS);
	ck_assert_int_eq(kp.leader[node_id(u, "C")], node_id(u, "C"));
	kplan_free(&kp);
	unit_free(u);
	/* a column sum's rows would be its columns: it neither leads nor
	 * joins a group (kplan_columns_on_rows), nor does the column sum
	 * that reads it; a map of its output leads its own. Whole-node
	 * kernels run each as a group of one */
	u = planned("size I = 300, J = 200\ninput X[I, J]\nm[j] = sum[i](X[i, j])\n"
	            "v[j] = sum[i]((X[i, j] - m[j]) * (X[i, j] - m[j]))\nw[j] = exp(v[j]) + m[j]\noutput v, w\n", &kp);
	ck_assert_str_eq(nest_str(u, &kp, "m"), "loops i j | red i | vector j | columns blocked");
	ck_assert_str_eq(nest_str(u, &kp, "v"), "loops i j | red i | vector j | columns blocked");
	ck_assert_int_eq(kp.leader[node_id(u, "m")], node_id(u, "m"));
	ck_assert_int_eq(kp.leader[node_id(u, "v")], node_id(u, "v"));
	ck_assert_int_eq(kp.leader[node_id(u, "w")], node_id(u, "w"));
	/* each runs its 200 columns in one chunk, not 8192 / 300 = 27 */
	ck_assert_int_eq(kp.kernels[kp.rows_plan[node_id(u, "m")]].chunk, 200);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[node_id(u, "v")]].chunk, 200);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[node_id(u, "w")]].chunk, 8192);
	kplan_free(&kp);
	unit_free(u);
	/* a column sum of rank 2 keeps its rows along its first index: a map
	 * of its output joins its group */
	u = planned("size B = 3, I = 300, J = 200\ninput X[B, I, J]\ns[b, j] = sum[i](X[b, i, j])\n"
	            "e[b, j] = exp(s[b, j])\noutput s, e\n", &kp);
	ck_assert_int_eq(kp.leader[node_id(u, "e")], node_id(u, "s"));
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* ---- block kernels ------------------------------------------------------------------- */

/* u's graph decomposed for 2 devices with the partitions of manual
 * (NODE:IDX=N ... separated by ';'), lowered and row-fused as the driver
 * does; blocks_planned compiles src first. */
static UnitRun *blocks_of(UnitRun *u, const char *manual, IaGraph *ia, KplanProgram *kp)
{
	int **fixed = arena_alloc(&u->arena, (size_t)u->g.nnodes * sizeof *fixed);
	memset(fixed, 0, (size_t)u->g.nnodes * sizeof *fixed);
	char *list = arena_strndup(&u->arena, manual, strlen(manual));
	for (char *one = strtok(list, ";"); one; one = strtok(NULL, ";")) {
		int node, *part = arena_alloc(&u->arena, 64 * sizeof *part);
		char err[200];
		ck_assert_msg(decomp_parse_manual(&u->g, one, &node, part, err, sizeof err), "%s", err);
		fixed[node] = part;
	}
	DecompOptions o = {.devices = 2, .fixed = fixed};
	decomp_run(&u->g, &o);
	ia_lower(&u->g, &u->arena, ia);
	kplan_fuse_rows(&u->g, ia);
	kplan_build(&u->g, ia, NULL, kp);
	return u;
}

static UnitRun *blocks_planned(const char *src, const char *manual, IaGraph *ia, KplanProgram *kp)
{
	return blocks_of(unit_compile_ok(src), manual, ia, kp);
}

/* A program, the manual partition its block kernels are planned under
 * (blocks_planned), and what a describer should say of its node P, or
 * else Y. */
typedef struct BlockCase {
	const char *src, *manual, *want;
} BlockCase;

typedef const char *NestDescriber(UnitRun *u, const KplanProgram *kp, const char *name);

static void check_block_cases(const BlockCase *cases, size_t n, NestDescriber *describe, const char *what)
{
	for (size_t c = 0; c < n; c++) {
		IaGraph ia;
		KplanProgram kp;
		UnitRun *u = blocks_planned(cases[c].src, cases[c].manual, &ia, &kp);
		const char *name = strstr(cases[c].src, "\nP[") ? "P" : "Y";
		const char *got = describe(u, &kp, name);
		ck_assert_msg(strcmp(got, cases[c].want) == 0, "case %zu: %s %s, want %s", c, what, got, cases[c].want);
		kplan_free(&kp);
		unit_free(u);
	}
}

/* Strassen-Winograd (kplan_strassen): block kernels only, where the
 * options allow it and a block's call reaches TRART_STRASSEN_MIN on
 * every side. */
static bool strassen_of(const char *src, const char *manual, const char *name, const KplanOptions *o)
{
	IaGraph ia;
	KplanProgram kp;
	UnitRun *u = blocks_planned(src, manual, &ia, &kp);
	kplan_free(&kp);
	kplan_build(&u->g, &ia, o, &kp);
	const Kplan *k = kernel_of(u, &kp, name);
	ck_assert_int_eq(k->kind, KPLAN_BLAS);
	bool s = k->gemm.strassen;
	kplan_free(&kp);
	unit_free(u);
	return s;
}

START_TEST(plan_gemm_strassen)
{
	KplanOptions on = {.strassen = true}, off = {.strassen = false};
	/* rows in two blocks of 384 */
	const char *big = "size I = 768, J = 385, K = 386\ninput A[I, J], B[J, K]\n"
	                  "C[i, k] = sum[j](A[i, j] * B[j, k])\noutput C\n";
	ck_assert(strassen_of(big, "C:i=2", "C", &on));
	ck_assert(!strassen_of(big, "C:i=2", "C", &off));
	ck_assert(!strassen_of(big, "C:i=2", "C", NULL));
	/* blocks of 383 rows: the runtime would not cut the calls */
	ck_assert(!strassen_of("size I = 766, J = 385, K = 386\ninput A[I, J], B[J, K]\n"
	                       "C[i, k] = sum[j](A[i, j] * B[j, k])\noutput C\n", "C:i=2", "C", &on));
	/* a split sum: partial products of 385 terms; a transposed operand */
	ck_assert(strassen_of("size I = 400, J = 770, K = 402\ninput A[J, I], B[J, K]\n"
	                      "C[i, k] = sum[j](A[j, i] * B[j, k])\noutput C\n", "C:j=2", "C", &on));
	/* matrix times vector: gemv */
	ck_assert(!strassen_of("size I = 1000, J = 1001\ninput A[I, J], x[J]\n"
	                       "y[i] = sum[j](A[i, j] * x[j])\noutput y\n", "y:i=2", "y", &on));
	/* whole-node kernels: OpenBLAS's threads on every call */
	KplanProgram kp;
	UnitRun *u = planned(big, &kp);
	kplan_free(&kp);
	kplan_build(&u->g, NULL, &on, &kp);
	ck_assert(!kernel_of(u, &kp, "C")->gemm.strassen);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* The tile of node name's block map (kplan.c's transposes): "16 j" or "-". */
static const char *tile_str(UnitRun *u, const KplanProgram *kp, const char *name)
{
	const KplanNest *L = &kernel_of(u, kp, name)->nest;
	if (L->tile == 0)
		return "-";
	return arena_printf(&u->arena, "%lld %s", (long long)L->tile,
	                    u->g.nodes[node_id(u, name)].idx[L->tile_index].name);
}

START_TEST(plan_transpose)
{
	static const BlockCase cases[] = {
		/* X strided along the vector loop i, contiguous along j */
		{"size I = 40, J = 50\ninput X[I, J]\nY[j, i] = X[i, j]\noutput Y\n", "Y:j=2,i=2", "16 j"},
		/* read as it is stored: no tiles */
		{"size I = 40, J = 50\ninput X[I, J]\nY[i, j] = X[i, j] * 2\noutput Y\n", "Y:i=2", "-"},
		/* an index shorter than a tile */
		{"size I = 40, J = 8\ninput X[I, J]\nY[j, i] = X[i, j]\noutput Y\n", "Y:j=2", "-"},
		/* A contiguous along k, two loops outside its vector loop b */
		{"size B = 20, J = 3, K = 30\ninput A[B, J, K]\nP[k, j, b] = A[b, j, k]\noutput P\n", "P:k=2", "16 k"},
		/* X read both ways: the transposed read decides */
		{"size I = 40\ninput X[I, I]\nY[i, j] = X[i, j] + X[j, i]\noutput Y\n", "Y:i=2", "16 i"},
		/* the largest operand decides: C is read as stored */
		{"size I = 40, J = 50\ninput x[I], C[J, I]\nY[j, i] = x[i] + C[j, i]\noutput Y\n", "Y:j=2", "-"},
	};
	check_block_cases(cases, sizeof cases / sizeof *cases, tile_str, "tiles");
}
END_TEST

/* The flat loops of node name's block map (kplan.c's short rows): "i c" or "-". */
static const char *flat_str(UnitRun *u, const KplanProgram *kp, const char *name)
{
	const TraNode *n = &u->g.nodes[node_id(u, name)];
	const KplanNest *L = &kernel_of(u, kp, name)->nest;
	if (L->flat == 0)
		return "-";
	int xs[TRA_MAX_RANK], m = 0;
	for (int d = n->rank - 1 - L->flat; d < n->rank; d++)
		xs[m++] = d;
	return names(u, name, xs, m);
}

START_TEST(plan_flat)
{
	static const BlockCase cases[] = {
		/* laid out alike: the rows of 10 are one loop */
		{"size N = 100, C = 10\ninput X[N, C], Z[N, C]\nY[i, c] = exp(X[i, c]) * Z[i, c]\noutput Y\n", "Y:i=2",
		 "i c"},
		/* ... unless a block cuts them */
		{"size N = 100, C = 10\ninput X[N, C]\nY[i, c] = exp(X[i, c])\noutput Y\n", "Y:i=2,c=2", "-"},
		/* three indices; W broadcast along b stops the merge at t */
		{"size B = 6, T = 5, K = 3\ninput A[B, T, K]\nY[b, t, k] = tanh(A[b, t, k])\noutput Y\n", "Y:b=2",
		 "b t k"},
		{"size B = 6, T = 5, K = 3\ninput A[B, T, K]\nY[b, t, k] = tanh(A[b, t, k])\noutput Y\n", "Y:t=2", "t k"},
		{"size B = 6, T = 5, K = 3\ninput A[B, T, K], W[T, K]\nY[b, t, k] = A[b, t, k] * W[t, k]\noutput Y\n",
		 "Y:b=2", "t k"},
		/* a broadcast along the rows, a transposed operand, an index's
		   value, an affine read: not alike */
		{"size N = 100, C = 10\ninput X[N, C], m[N]\nY[i, c] = X[i, c] - m[i]\noutput Y\n", "Y:i=2", "-"},
		{"size N = 100, C = 10\ninput X[N, C], K[C, N]\nY[i, c] = X[i, c] + K[c, i]\noutput Y\n", "Y:i=2", "-"},
		{"size N = 100, C = 10\ninput X[N, C]\nY[i, c] = X[i, c] * c\noutput Y\n", "Y:i=2", "-"},
		{"size N = 100, C = 10\ninput X[N, C]\nY[i:N - 1, c] = X[i + 1, c]\noutput Y\n", "Y:i=2", "-"},
		/* rows of KPLAN_FLAT_ROW gain nothing; one shorter merges */
		{"size N = 100, C = 1024\ninput X[N, C]\nY[i, c] = exp(X[i, c])\noutput Y\n", "Y:i=2", "-"},
		{"size N = 100, C = 1023\ninput X[N, C]\nY[i, c] = exp(X[i, c])\noutput Y\n", "Y:i=2", "i c"},
		/* a reduction is not a map */
		{"size N = 100, C = 10\ninput X[N, C]\nY[i] = sum[c](X[i, c])\noutput Y\n", "Y:i=2", "-"},
	};
	check_block_cases(cases, sizeof cases / sizeof *cases, flat_str, "flat");
}
END_TEST

START_TEST(plan_blocks_split)
{
	/* s[j] = sum[i](X[i, j]) cut i:2 j:2: joins leave partial blocks, an
	 * aggregation combines them */
	IaGraph ia;
	KplanProgram kp;
	UnitRun *u = blocks_planned("size I = 100, J = 64\ninput X[I, J]\ns[j] = sum[i](X[i, j])\noutput s\n",
	                            "s:i=2,j=2", &ia, &kp);
	ck_assert_int_eq(kp.kernels[0].kind, KPLAN_NOP);
	const Kplan *k = kernel_of(u, &kp, "s");
	ck_assert_int_eq(k->kind, KPLAN_LOOPS);
	ck_assert(k->block && k->split);
	ck_assert_int_eq(k->nest.reduce, KPLAN_RED_COLUMNS);
	int a = kp.agg_plan[node_id(u, "s")];
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(kp.kernels[a].kind, KPLAN_AGG);
	ck_assert_int_eq(kp.kernels[a].nest.agg, TRA_AGG_SUM);
	ck_assert_int_eq(kp.nkernels, 3);
	/* the task table: each aggregation combines the two i halves of its
	 * j block; every wake is some task's wait */
	int waits = 0, wakes = 0, aggs = 0;
	for (int t = 0; t < ia.ntasks; t++) {
		const KplanTask *kt = &kp.tasks[t];
		const IaTask *x = &ia.tasks[t];
		waits += kt->npred;
		wakes += kt->nsucc;
		if (x->kind == IA_AGG) {
			aggs++;
			ck_assert_int_eq(kt->kernel, a);
			ck_assert_int_eq(kt->nparts, 2);
			ck_assert_int_eq(ia.tasks[kt->parts[0]].hi[0], x->hi[0]); /* the same j block (s[j]: j is index 0) */
			ck_assert_int_eq(kt->nuse, 4); /* s, X and its parts' partial blocks */
			ck_assert_int_eq(kt->use[2], KPLAN_PARTIAL(&kp, kt->parts[0]));
			ck_assert_int_eq(kt->use[3], KPLAN_PARTIAL(&kp, kt->parts[1]));
		} else if (x->kind == IA_JOIN) {
			ck_assert_int_eq(kt->kernel, kp.node_plan[node_id(u, "s")]);
			ck_assert_int_eq(kt->nsucc, 1);
			ck_assert_int_eq(kt->nparts, 0);
			/* s, X, and the partial block it writes, a buffer of its own */
			ck_assert_int_eq(kt->nuse, 3);
			ck_assert_int_eq(kt->use[2], KPLAN_PARTIAL(&kp, t));
			ck_assert_int_gt(kp.pooled[KPLAN_PARTIAL(&kp, t)], 0);
		} else {
			ck_assert_int_eq(kt->kernel, 0); /* leaves: the no-op */
		}
	}
	ck_assert_int_eq(aggs, 2);
	ck_assert_int_eq(waits, wakes);
	ck_assert_int_eq(kp.pooled[node_id(u, "s")], 0); /* an output: the caller's */
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* W5's gradient with every node cut into the same 4 row blocks: one
 * row group, z a row dot and g its row reducer, each row block's task
 * writing g's partial block, which g's aggregation combines. */
static const char logreg[] = "size N = 100, D = 64\ninput X[N, D], w[D], y[N]\n"
                             "z[i] = sum[j](X[i, j] * w[j])\nr[i] = sigmoid(z[i]) - y[i]\n"
                             "g[j] = sum[i](X[i, j] * r[i]) / N\noutput g\n";

START_TEST(plan_row_prefetch_dot)
{
	/* W5 in block tasks: the row dot z is the first member to read X, in
	   a blocked sum (1000 terms), and prefetches it; then r and the row
	   reducer g use the row from cache */
	IaGraph ia;
	KplanProgram kp;
	UnitRun *u = blocks_planned("size N = 100, D = 1000\ninput X[N, D], w[D], y[N]\n"
	                            "z[i] = sum[j](X[i, j] * w[j])\nr[i] = sigmoid(z[i]) - y[i]\n"
	                            "g[j] = sum[i](X[i, j] * r[i]) / N\noutput g\n",
	                            "z:i=4;r:i=4;g:i=4", &ia, &kp);
	int z = node_id(u, "z");
	ck_assert_int_eq(kp.kernels[kp.rows_plan[z]].reducer, node_id(u, "g"));
	const KplanNest *nest = &kernel_of(u, &kp, "z")->nest;
	ck_assert_int_ge(nest->prefetch, 0);
	ck_assert_int_eq(u->g.nodes[z].ops[nest->prefetch].node, node_id(u, "X"));
	ck_assert_int_eq(nest->prefetch_stride, 1000);
	ck_assert_int_eq(kernel_of(u, &kp, "g")->nest.prefetch, -1);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

static const char heads[] = "size B = 2, H = 4, S = 5, T = 7\ninput A[B, H, S, T]\n"
                            "M[b, h, s] = max[t](A[b, h, s, t])\n"
                            "E[b, h, s, t] = exp(A[b, h, s, t] - M[b, h, s])\n"
                            "Z[b, h, s] = sum[t](E[b, h, s, t])\noutput E, Z\n";

START_TEST(plan_rows_over_indices)
{
	/* cut along b and h: each block's rows are points of (b, h, s), one
	   range of them in C order, and the group runs them row by row */
	IaGraph ia;
	KplanProgram kp;
	UnitRun *u = blocks_planned(heads, "M:b=2,h=2;E:b=2,h=2;Z:b=2,h=2", &ia, &kp);
	int m = node_id(u, "M");
	ck_assert_int_ge(kp.rows_plan[m], 0);
	const Kplan *k = &kp.kernels[kp.rows_plan[m]];
	ck_assert_int_eq(k->nmembers, 3);
	ck_assert_int_eq(k->row_rank, 3);
	int leads = 0, fused = 0;
	for (int t = 0; t < ia.ntasks; t++) {
		const IaTask *x = &ia.tasks[t];
		int64_t first, end;
		if (x->kind == IA_JOIN && x->node == m) {
			ck_assert_int_eq(x->rows, m);
			ck_assert(ia_task_rows(&u->g.nodes[m], 3, x->lo, x->hi, &first, &end));
			ck_assert_int_eq(end - first, 2 * 5); /* one b, two h, every s */
			ck_assert_int_eq(first, x->lo[0] * 20 + x->lo[1] * 5);
			leads++;
		}
		fused += x->kind == IA_FUSED;
	}
	ck_assert_int_eq(leads, 4);
	ck_assert_int_eq(fused, 8);
	kplan_free(&kp);
	unit_free(u);
	/* b whole but h cut: a block's rows are not one range, no group */
	u = blocks_planned(heads, "M:h=2;E:h=2;Z:h=2", &ia, &kp);
	ck_assert_int_lt(kp.rows_plan[node_id(u, "M")], 0);
	const TraNode *mn = &u->g.nodes[node_id(u, "M")];
	int64_t lo[3] = {0, 0, 0}, hi[3] = {2, 2, 5}, first, end;
	ck_assert(!ia_task_rows(mn, 3, lo, hi, &first, &end));
	kplan_free(&kp);
	unit_free(u);
	/* cut along b alone: rows along b, as before */
	u = blocks_planned(heads, "M:b=2;E:b=2;Z:b=2", &ia, &kp);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[node_id(u, "M")]].row_rank, 1);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[node_id(u, "M")]].jam, 1); /* no reducer */
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(plan_row_reducer)
{
	IaGraph ia;
	KplanProgram kp;
	UnitRun *u = blocks_planned(logreg, "z:i=4;r:i=4;g:i=4", &ia, &kp);
	int z = node_id(u, "z"), r = node_id(u, "r"), g = node_id(u, "g");
	ck_assert_int_ge(kp.rows_plan[z], 0);
	const Kplan *k = &kp.kernels[kp.rows_plan[z]];
	ck_assert_int_eq(k->kind, KPLAN_ROWS);
	ck_assert_int_eq(k->nmembers, 3);
	ck_assert_int_eq(k->members[1], r);
	ck_assert_int_eq(k->reducer, g);
	ck_assert_int_eq(k->chunk, KPLAN_REDUCER_JAM);
	ck_assert_int_eq(k->jam, KPLAN_REDUCER_JAM);
	ck_assert_int_eq(kp.row_dim[g], 1); /* g[j]'s i */
	ck_assert_int_eq(kernel_of(u, &kp, "z")->kind, KPLAN_LOOPS); /* a GEMV alone */
	ck_assert(kernel_of(u, &kp, "g")->split);
	int a = kp.agg_plan[g];
	ck_assert_int_ge(a, 0);
	int fused = 0, aggs = 0;
	for (int t = 0; t < ia.ntasks; t++) {
		const IaTask *x = &ia.tasks[t];
		const KplanTask *kt = &kp.tasks[t];
		if (x->kind == IA_JOIN) {
			/* only the group's tasks join: z's rows, and r's and g's */
			ck_assert_int_eq(x->rows, z);
			ck_assert_int_eq(kt->kernel, kp.rows_plan[z]);
			ck_assert_int_eq(kt->nparts, 1);
			const IaTask *p = &ia.tasks[kt->parts[0]];
			ck_assert_int_eq(p->kind, IA_FUSED);
			ck_assert_int_eq(p->node, g);
			ck_assert_int_eq(p->lo[1], x->lo[0]);
			ck_assert_int_eq(p->hi[1], x->hi[0]);
			int b = KPLAN_PARTIAL(&kp, kt->parts[0]);
			ck_assert_int_eq(kp.pooled[b], 64 * 4);
			bool uses_part = false;
			for (int i = 0; i < kt->nuse; i++) {
				ck_assert_int_ne(kt->use[i], g); /* it writes the partial block only */
				uses_part |= kt->use[i] == b;
			}
			ck_assert(uses_part);
			KplanPiece pc[8];
			ck_assert_int_le(ia.ncons[t] + 1, 8);
			int np = kplan_task_pieces(&kp, t, pc), partial = 0;
			for (int i = 0; i < np; i++)
				partial += pc[i].buf == b && pc[i].elsize == 1 && pc[i].size[0] == 64 * 4;
			ck_assert_int_eq(partial, 1);
			fused++;
		} else if (x->kind == IA_AGG) {
			ck_assert_int_eq(x->node, g);
			ck_assert_int_eq(kt->kernel, a);
			ck_assert_int_eq(kt->nparts, 4);
			for (int q = 0; q < 4; q++)
				ck_assert_int_eq(ia.tasks[kt->parts[q]].kind, IA_FUSED);
			ck_assert_int_eq(kt->use[0], g); /* the block it writes */
			aggs++;
		}
	}
	ck_assert_int_eq(fused, 4);
	ck_assert_int_eq(aggs, 1);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

/* A row reducer whose blocks are too long to sum in turn (1500 rows over
 * KPLAN_ROW_REDUCE_MAX), or whose rows are not cut, stays out of the
 * group, and z stays a GEMV where it leads nothing; without the
 * extension (whole nodes) g is no member either. */
START_TEST(row_reducer_limits)
{
	static const char big[] = "size N = 3000, D = 64\ninput X[N, D], w[D], y[N]\n"
	                          "z[i] = sum[j](X[i, j] * w[j])\nr[i] = sigmoid(z[i]) - y[i]\n"
	                          "g[j] = sum[i](X[i, j] * r[i]) / N\noutput g\n";
	IaGraph ia;
	KplanProgram kp;
	UnitRun *u = blocks_planned(big, "z:i=2;r:i=2;g:i=2", &ia, &kp);
	int z = node_id(u, "z"), g = node_id(u, "g");
	ck_assert_int_eq(kp.leader[g], g);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[z]].reducer, -1);
	kplan_free(&kp);
	unit_free(u);
	u = blocks_planned(logreg, "z:i=4;r:i=4;g:j=2", &ia, &kp);
	z = node_id(u, "z");
	g = node_id(u, "g");
	ck_assert_int_eq(kp.leader[g], g);
	ck_assert_int_eq(kp.kernels[kp.rows_plan[z]].nmembers, 2);
	kplan_free(&kp);
	unit_free(u);
	u = planned(logreg, &kp);
	g = node_id(u, "g");
	ck_assert_int_eq(kp.leader[g], g);
	ck_assert_int_eq(kernel_of(u, &kp, "r")->kind, KPLAN_BLAS); /* z's GEMV, then r's map */
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

static const char costly[] = "size N = 100, D = 40\ninput X[N, D], y[N]\n"
                             "r[i] = sigmoid(sum[j](X[i, j] * X[i, j] + 1)) - y[i]\n"
                             "c[i] = sum[j](X[i, j]) / D\nt[i] = sqrt(sum[j](abs(X[i, j])))\n"
                             "m[i] = exp(max[j](X[i, j]))\nA[i, j] = exp(X[i, j])\n"
                             "s = log(sum[i, j](X[i, j] * X[i, j]))\noutput r, c, t, m, A, s\n";

START_TEST(plan_deferred)
{
	/* a row reduction's epilogue of KPLAN_DEFER_FLOPS or more runs after
	   its rows' sums: r's sigmoid, m's exp; not c's division nor t's
	   square root (2), nor a map's exp, nor a scalar's log */
	KplanProgram kp;
	UnitRun *u = planned_all(costly, &kp);
	ck_assert(kernel_of(u, &kp, "r")->nest.deferred);
	ck_assert(kernel_of(u, &kp, "m")->nest.deferred);
	ck_assert(!kernel_of(u, &kp, "c")->nest.deferred);
	ck_assert(!kernel_of(u, &kp, "t")->nest.deferred);
	ck_assert(!kernel_of(u, &kp, "A")->nest.deferred);
	ck_assert(!kernel_of(u, &kp, "s")->nest.deferred);
	kplan_free(&kp);
	unit_free(u);
	/* block kernels: the same, but not where j is cut (r's epilogue is
	   then its aggregation's) */
	IaGraph ia;
	u = blocks_of(passed_all(costly), "r:i=2,j=2;m:i=2", &ia, &kp);
	ck_assert(kernel_of(u, &kp, "r")->split);
	ck_assert(!kernel_of(u, &kp, "r")->nest.deferred);
	ck_assert(kernel_of(u, &kp, "m")->nest.deferred);
	ck_assert(!kernel_of(u, &kp, "c")->nest.deferred);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

START_TEST(dump_kernels)
{
	KplanProgram kp;
	UnitRun *u = planned(softmax, &kp);
	UnitMem m;
	unit_mem_open(&m);
	kplan_dump(&kp, m.f);
	const char *t = unit_mem_text(&m);
	ck_assert_ptr_nonnull(strstr(t, "5 kernels, whole nodes\n"));
	ck_assert_ptr_nonnull(strstr(t, "kernel 0: loops M\n  loops i j\n    split i, vector j\n"
	                                "    reduce simd max from -inf, NaN flag\n    join X[i, j]\n"));
	ck_assert_ptr_nonnull(strstr(t, "kernel 4: rows M\n  members M E Z P, 81 rows per chunk\n"));
	unit_mem_close(&m);
	kplan_free(&kp);
	unit_free(u);
}
END_TEST

static Suite *kplan_suite(void)
{
	Suite *s = suite_create("kplan");
	TCase *tc = tcase_create("blas");
	tcase_add_test(tc, plan_gemm);
	tcase_add_test(tc, plan_gemm_layout);
	tcase_add_test(tc, plan_gemm_strassen);
	tcase_add_test(tc, plan_gemm_panels);
	tcase_add_test(tc, plan_gemv);
	tcase_add_test(tc, plan_shared_weight);
	tcase_add_test(tc, loops_not_gemm);
	tcase_add_test(tc, tiny_products_loop);
	suite_add_tcase(s, tc);
	tc = tcase_create("loops");
	tcase_add_test(tc, plan_map);
	tcase_add_test(tc, plan_row_sum);
	tcase_add_test(tc, plan_max);
	tcase_add_test(tc, plan_arg_lanes);
	tcase_add_test(tc, plan_column_sum);
	tcase_add_test(tc, plan_short_sums);
	tcase_add_test(tc, plan_row_group);
	tcase_add_test(tc, plan_row_prefetch);
	tcase_add_test(tc, plan_row_calls);
	tcase_add_test(tc, row_group_breaks);
	tcase_add_test(tc, plan_blocks_split);
	tcase_add_test(tc, plan_row_prefetch_dot);
	tcase_add_test(tc, plan_rows_over_indices);
	tcase_add_test(tc, plan_row_reducer);
	tcase_add_test(tc, row_reducer_limits);
	tcase_add_test(tc, plan_transpose);
	tcase_add_test(tc, plan_flat);
	tcase_add_test(tc, plan_deferred);
	tcase_add_test(tc, dump_kernels);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(kplan_suite)
