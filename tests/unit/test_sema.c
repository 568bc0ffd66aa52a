/* test_sema.c: Check tests for semantic analysis (compiler/sema.c) and
 * the graph functions it uses (compiler/tra.c).
 *
 * The first tests compile small programs and check the TRA graph node by
 * node: kind, indices and their ranges, aggregation, operands, and the
 * join and epilogue trees as prefix strings (unit.h), where "#i" is the
 * value of index i and "acc" the aggregate. Every valid graph also goes
 * through tra_verify (unit_compile_ok). Costs are checked against numbers
 * worked out by hand from tra_node_cost's model: per join point the
 * join's operations (ops.def weights) plus one to aggregate, per output
 * element the epilogue's; bytes are the operands' plus the result's.
 *
 * The rest are errors: each class of mistake must give an error whose
 * message contains its key phrase, and a mistake is reported once.
 */
#include "unit.h"

/* Asserts node's join and epilogue as prefix strings. */
#define assert_exprs(u, n, join_want, epi_want)                               \
	do {                                                                  \
		ck_assert_str_eq(unit_tra_str((u), (n), (n)->join), (join_want)); \
		ck_assert_str_eq(unit_tra_str((u), (n), (n)->epilogue), (epi_want)); \
	} while (0)

/* Asserts node's output and reduced index names, "i,j" and "k". */
#define assert_indices(u, n, out_want, red_want)                              \
	do {                                                                  \
		ck_assert_str_eq(unit_idx_str((u), (n), 0, (n)->rank), (out_want)); \
		ck_assert_str_eq(unit_idx_str((u), (n), (n)->rank, (n)->nidx), (red_want)); \
	} while (0)

/* ---- the graph of valid programs -------------------------------------------- */

static const char mlp_src[] =
	"# two-layer perceptron with a row softmax\n"
	"size N = 2, D = 3, H = 4, C = 5\n"
	"input X[N, D]\n"
	"input W1[D, H]\n"
	"input b1[H]\n"
	"input W2[H, C]\n"
	"\n"
	"Hd[i, j] = relu(sum[k](X[i, k] * W1[k, j]) + b1[j])\n"
	"Y[i, c]  = sum[k](Hd[i, k] * W2[k, c])\n"
	"M[i]     = max[c](Y[i, c])\n"
	"E[i, c]  = exp(Y[i, c] - M[i])\n"
	"P[i, c]  = E[i, c] / sum[c2](E[i, c2])\n"
	"output P\n";

START_TEST(mlp_graph)
{
	UnitRun *u = unit_compile_ok(mlp_src);
	const TraGraph *g = &u->g;
	static const char *const names[] = {"X", "W1", "b1", "W2", "Hd", "Y", "M", "E", "P.r1", "P"};
	ck_assert_int_eq(g->nnodes, 10);
	for (int i = 0; i < 10; i++) {
		ck_assert_str_eq(g->nodes[i].name, names[i]);
		ck_assert_int_eq(g->nodes[i].kind, i < 4 ? TRA_NODE_INPUT : TRA_NODE_EINSUM);
		ck_assert_int_eq(g->nodes[i].type, TRART_F32);
		ck_assert(g->nodes[i].is_output == (i == 9));
	}
	ck_assert_int_eq(g->noutputs, 1);
	ck_assert_int_eq(g->outputs[0], 9);

	/* Hd: one node, a contraction over k with a bias-and-relu epilogue */
	const TraNode *hd = unit_node(g, "Hd");
	ck_assert_int_eq(hd->agg, TRA_AGG_SUM);
	ck_assert_int_eq(hd->rank, 2);
	ck_assert_int_eq(hd->nidx, 3);
	assert_indices(u, hd, "i,j", "k");
	ck_assert_int_eq(hd->idx[0].size, 2);
	ck_assert_str_eq(hd->idx[0].sname, "N");
	ck_assert_int_eq(hd->idx[1].size, 4);
	ck_assert_str_eq(hd->idx[1].sname, "H");
	ck_assert_int_eq(hd->idx[2].size, 3);
	ck_assert_str_eq(hd->idx[2].sname, "D");
	ck_assert_int_eq(hd->nops, 3);
	assert_exprs(u, hd, "(* X[i,k] W1[k,j])", "relu((+ acc b1[j]))");

	const TraNode *y = unit_node(g, "Y");
	ck_assert_int_eq(y->agg, TRA_AGG_SUM);
	assert_indices(u, y, "i,c", "k");
	assert_exprs(u, y, "(* Hd[i,k] W2[k,c])", "-");

	const TraNode *m = unit_node(g, "M");
	ck_assert_int_eq(m->agg, TRA_AGG_MAX);
	assert_indices(u, m, "i", "c");
	assert_exprs(u, m, "Y[i,c]", "-");

	const TraNode *e = unit_node(g, "E");
	ck_assert_int_eq(e->agg, TRA_AGG_NONE);
	assert_indices(u, e, "i,c", "");
	assert_exprs(u, e, "exp((- Y[i,c] M[i]))", "-");

	/* P: the partial reduction is split off as P.r1, P is a map */
	const TraNode *pr = unit_node(g, "P.r1");
	ck_assert_int_eq(pr->agg, TRA_AGG_SUM);
	assert_indices(u, pr, "i", "c2");
	ck_assert_int_eq(pr->idx[1].size, 5);
	assert_exprs(u, pr, "E[i,c2]", "-");
	ck_assert(!pr->is_output);
	const TraNode *p = unit_node(g, "P");
	ck_assert_int_eq(p->agg, TRA_AGG_NONE);
	assert_indices(u, p, "i,c", "");
	assert_exprs(u, p, "(/ E[i,c] P.r1[i])", "-");
	ck_assert_int_eq(p->ops[1].node, unit_node_id(g, "P.r1"));
	unit_free(u);
}
END_TEST

START_TEST(mlp_costs)
{
	/* N=2 D=3 H=4 C=5, f32 (4 bytes) */
	UnitRun *u = unit_compile_ok(mlp_src);
	static const struct {
		const char *name;
		double flops, bytes;
	} want[] = {
		{"X", 0, 2 * 3 * 4},
		{"W1", 0, 3 * 4 * 4},
		{"b1", 0, 4 * 4},
		/* 24 points x (mul + add) + 8 elements x (add + relu) */
		{"Hd", 24 * 2 + 8 * 2, 4 * (8 + 6 + 12 + 4)},
		{"Y", 40 * 2, 4 * (10 + 8 + 20)},
		/* 10 points x (max only) */
		{"M", 10 * 1, 4 * (2 + 10)},
		/* 10 elements x (exp 4 + sub 1) */
		{"E", 10 * 5, 4 * (10 + 10 + 2)},
		{"P.r1", 10 * 1, 4 * (2 + 10)},
		{"P", 10 * 1, 4 * (10 + 10 + 2)},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const TraNode *n = unit_node(&u->g, want[i].name);
		ck_assert_msg(n->flops == want[i].flops, "%s: flops %g, expected %g", n->name,
		              n->flops, want[i].flops);
		ck_assert_msg(n->bytes == want[i].bytes, "%s: bytes %g, expected %g", n->name,
		              n->bytes, want[i].bytes);
	}
	unit_free(u);
}
END_TEST

START_TEST(matmul_cost)
{
	/* M*N*K join points, each a mul and an add: 2*M*N*K; bytes: A, B, C */
	UnitRun *u = unit_compile_ok("size M = 3, N = 5, K = 4\n"
	                             "input A[M, K], B[K, N]\n"
	                             "C[i, j] = sum[k](A[i, k] * B[k, j])\n"
	                             "output C\n");
	const TraNode *c = unit_node(&u->g, "C");
	ck_assert_int_eq(tra_node_join_points(c), 60);
	ck_assert_int_eq(tra_node_elements(c), 15);
	ck_assert_double_eq(c->flops, 120.0);
	ck_assert_double_eq(c->bytes, 4.0 * (12 + 20 + 15));
	unit_free(u);
	u = unit_compile_ok("size M = 3, N = 5, K = 4\n"
	                    "input A[M, K] f64, B[K, N] f64\n"
	                    "C[i, j] = sum[k](A[i, k] * B[k, j])\n"
	                    "output C\n");
	c = unit_node(&u->g, "C");
	ck_assert_int_eq(c->type, TRART_F64);
	ck_assert_double_eq(c->flops, 120.0);
	ck_assert_double_eq(c->bytes, 8.0 * (12 + 20 + 15));
	ck_assert_double_eq(unit_node(&u->g, "A")->bytes, 8.0 * 12);
	ck_assert_double_eq(unit_node(&u->g, "A")->flops, 0.0);
	unit_free(u);
	/* a large one: the counts are doubles, 2*M*N*K exactly */
	u = unit_compile_ok("size M = 8192, N = 4096, K = 1024\n"
	                    "input A[M, K], B[K, N]\n"
	                    "C[i, j] = sum[k](A[i, k] * B[k, j])\n"
	                    "output C\n");
	c = unit_node(&u->g, "C");
	ck_assert_double_eq(c->flops, 2.0 * 8192 * 4096 * 1024);
	ck_assert_double_eq(c->bytes, 4.0 * (8192.0 * 1024 + 1024.0 * 4096 + 8192.0 * 4096));
	unit_free(u);
}
END_TEST

START_TEST(cost_weights)
{
	/* transcendentals weigh more (ops.def): tanh 6, sqrt 2, pow 8, select 1
	 * plus its comparison 1; leaves are free */
	UnitRun *u = unit_compile_ok("size N = 10\ninput x[N]\n"
	                             "A[i] = tanh(x[i])\n"
	                             "B[i] = sqrt(x[i]) + pow(x[i], 2)\n"
	                             "C[i] = select(x[i] < 0, -x[i], x[i])\n"
	                             "s = mean[i](x[i])\n"
	                             "output A, B, C, s\n");
	ck_assert_double_eq(unit_node(&u->g, "A")->flops, 10.0 * 6);
	ck_assert_double_eq(unit_node(&u->g, "B")->flops, 10.0 * (2 + 8 + 1));
	ck_assert_double_eq(unit_node(&u->g, "C")->flops, 10.0 * (1 + 1 + 1));
	/* mean: 10 additions, then one division for the single element */
	ck_assert_double_eq(unit_node(&u->g, "s")->flops, 10.0 + 1);
	ck_assert_double_eq(unit_node(&u->g, "s")->bytes, 4.0 * (10 + 1));
	unit_free(u);
}
END_TEST

START_TEST(nested_reduction_split)
{
	UnitRun *u = unit_compile_ok("size N = 3, K = 4\ninput X[N, K]\n"
	                             "Y[i] = sum[j](exp(X[i, j] - max[k](X[i, k])))\n"
	                             "output Y\n");
	ck_assert_int_eq(u->g.nnodes, 3);
	const TraNode *r = &u->g.nodes[1], *y = &u->g.nodes[2];
	ck_assert_str_eq(r->name, "Y.r1");
	ck_assert_int_eq(r->agg, TRA_AGG_MAX);
	assert_indices(u, r, "i", "k");
	assert_exprs(u, r, "X[i,k]", "-");
	ck_assert_str_eq(y->name, "Y");
	ck_assert_int_eq(y->agg, TRA_AGG_SUM);
	assert_indices(u, y, "i", "j");
	assert_exprs(u, y, "exp((- X[i,j] Y.r1[i]))", "-");
	ck_assert_int_eq(y->idx[1].size, 4);
	unit_free(u);
}
END_TEST

START_TEST(nested_reduction_inside_main)
{
	/* the inner reduction's free index j belongs to the outer reduction */
	UnitRun *u = unit_compile_ok("size N = 3, K = 4, L = 2\ninput X[N, K], Z[K, L]\n"
	                             "Y[i] = sum[j](X[i, j] * max[k](Z[j, k]))\n"
	                             "output Y\n");
	const TraNode *r = unit_node(&u->g, "Y.r1");
	ck_assert_int_eq(r->agg, TRA_AGG_MAX);
	assert_indices(u, r, "j", "k");
	ck_assert_int_eq(r->idx[0].size, 4);
	ck_assert_int_eq(r->idx[1].size, 2);
	const TraNode *y = unit_node(&u->g, "Y");
	assert_exprs(u, y, "(* X[i,j] Y.r1[j])", "-");
	unit_free(u);
}
END_TEST

START_TEST(reductions_split_in_order)
{
	/* the first top-level reduction over all of the left-hand side is the
	 * node's own; later ones and partial ones are split, numbered in order */
	UnitRun *u = unit_compile_ok("size N = 3, K = 4\ninput X[N, K]\n"
	                             "Y[i] = sum[j](X[i, j]) + prod[j](X[i, j]) * max[j](X[i, j])\n"
	                             "Z[i, j] = X[i, j] / sum[a, b](X[a, b]) - min[k](X[i, k])\n"
	                             "output Y, Z\n");
	const TraNode *y = unit_node(&u->g, "Y");
	ck_assert_int_eq(y->agg, TRA_AGG_SUM);
	assert_exprs(u, y, "X[i,j]", "(+ acc (* Y.r1[i] Y.r2[i]))");
	ck_assert_int_eq(unit_node(&u->g, "Y.r1")->agg, TRA_AGG_PROD);
	ck_assert_int_eq(unit_node(&u->g, "Y.r2")->agg, TRA_AGG_MAX);
	/* split numbering restarts for each statement */
	const TraNode *z1 = unit_node(&u->g, "Z.r1");
	ck_assert_int_eq(z1->rank, 0);
	assert_indices(u, z1, "", "a,b");
	ck_assert_int_eq(unit_node(&u->g, "Z.r2")->agg, TRA_AGG_MIN);
	const TraNode *z = unit_node(&u->g, "Z");
	ck_assert_int_eq(z->agg, TRA_AGG_NONE);
	assert_exprs(u, z, "(- (/ X[i,j] Z.r1) Z.r2[i])", "-");
	/* topological order: each operand comes before its reader */
	for (int id = 0; id < u->g.nnodes; id++)
		for (int k = 0; k < u->g.nodes[id].nops; k++)
			ck_assert_int_lt(u->g.nodes[id].ops[k].node, id);
	unit_free(u);
}
END_TEST

START_TEST(main_reduction_in_epilogue)
{
	UnitRun *u = unit_compile_ok("size N = 3, K = 4\ninput X[N, K], v[N]\n"
	                             "Y[i] = select(i < 2, -sum[j](X[i, j]) * v[i], i)\n"
	                             "output Y\n");
	ck_assert_int_eq(u->g.nnodes, 3);
	const TraNode *y = unit_node(&u->g, "Y");
	ck_assert_int_eq(y->agg, TRA_AGG_SUM);
	assert_exprs(u, y, "X[i,j]", "select((< #i 2),(* (neg acc) v[i]),#i)");
	unit_free(u);
}
END_TEST

START_TEST(mean_lowering)
{
	UnitRun *u = unit_compile_ok("size N = 3, K = 4\ninput X[N, K]\n"
	                             "m[i] = mean[j](X[i, j])\n"
	                             "t = mean[i, j](X[i, j]) * 2\n"
	                             "C[i, j] = X[i, j] - mean[k](X[i, k])\n"
	                             "output m, t, C\n");
	const TraNode *m = unit_node(&u->g, "m");
	ck_assert_int_eq(m->agg, TRA_AGG_SUM);
	assert_exprs(u, m, "X[i,j]", "(/ acc 4)");
	/* the count is the product of the reduced ranges */
	const TraNode *t = unit_node(&u->g, "t");
	ck_assert_int_eq(t->agg, TRA_AGG_SUM);
	assert_exprs(u, t, "X[i,j]", "(* (/ acc 12) 2)");
	/* a split mean keeps its division */
	const TraNode *c1 = unit_node(&u->g, "C.r1");
	ck_assert_int_eq(c1->agg, TRA_AGG_SUM);
	assert_exprs(u, c1, "X[i,k]", "(/ acc 4)");
	assert_exprs(u, unit_node(&u->g, "C"), "(- X[i,j] C.r1[i])", "-");
	/* no node keeps MEAN */
	for (int i = 0; i < u->g.nnodes; i++)
		ck_assert_int_ne(u->g.nodes[i].agg, TRA_AGG_MEAN);
	unit_free(u);
}
END_TEST

START_TEST(scalars)
{
	UnitRun *u = unit_compile_ok("size N = 5\ninput x[N], alpha\n"
	                             "s = sum[i](x[i])\n"
	                             "c = 2.5\n"
	                             "y[i] = alpha * x[i] / s + c\n"
	                             "output s, y\n");
	const TraNode *alpha = unit_node(&u->g, "alpha");
	ck_assert_int_eq(alpha->kind, TRA_NODE_INPUT);
	ck_assert_int_eq(alpha->rank, 0);
	ck_assert_int_eq(tra_node_elements(alpha), 1);
	ck_assert_double_eq(alpha->bytes, 4.0);
	const TraNode *s = unit_node(&u->g, "s");
	ck_assert_int_eq(s->rank, 0);
	ck_assert_int_eq(s->agg, TRA_AGG_SUM);
	assert_indices(u, s, "", "i");
	const TraNode *c = unit_node(&u->g, "c");
	ck_assert_int_eq(c->rank, 0);
	ck_assert_int_eq(c->nidx, 0);
	ck_assert_int_eq(c->agg, TRA_AGG_NONE);
	ck_assert_int_eq(c->nops, 0);
	assert_exprs(u, c, "2.5", "-");
	assert_exprs(u, unit_node(&u->g, "y"), "(+ (/ (* alpha x[i]) s) c)", "-");
	unit_free(u);
}
END_TEST

START_TEST(operands)
{
	UnitRun *u = unit_compile_ok("size N = 3, M = 2, L = 4\ninput A[N, M], S[N, N], c[L]\n"
	                             "T[j, i] = A[i, j]\n"
	                             "Q[i, j] = S[i, j] * S[i, j] + S[j, i]\n"
	                             "R[i, j] = S[j, i] / sum[k](A[j, k] * A[i, k])\n"
	                             "U[j, l, i] = S[j, i] * c[l] / sum[k](A[i, k] * A[j, k])\n"
	                             "output T, Q, R, U\n");
	/* a transpose: the operand's dimensions map to the node's indices 1, 0 */
	const TraNode *t = unit_node(&u->g, "T");
	ck_assert_int_eq(t->nops, 1);
	ck_assert_int_eq(t->ops[0].rank, 2);
	ck_assert_int_eq(t->ops[0].idx[0], 1);
	ck_assert_int_eq(t->ops[0].idx[1], 0);
	ck_assert_int_eq(t->idx[0].size, 2);
	ck_assert_int_eq(t->idx[1].size, 3);
	/* one operand per distinct (tensor, subscripts) */
	const TraNode *q = unit_node(&u->g, "Q");
	ck_assert_int_eq(q->nops, 2);
	assert_exprs(u, q, "(+ (* S[i,j] S[i,j]) S[j,i])", "-");
	/* a reduction over all the left-hand side's indices is the node's own,
	 * whatever the order in which its body reads them */
	const TraNode *r = unit_node(&u->g, "R");
	ck_assert_int_eq(r->agg, TRA_AGG_SUM);
	assert_indices(u, r, "i,j", "k");
	assert_exprs(u, r, "(* A[j,k] A[i,k])", "(/ S[j,i] acc)");
	ck_assert_int_eq(unit_node_id(&u->g, "R.r1"), -1);
	/* a split node's indices follow the order of the enclosing node */
	const TraNode *u1 = unit_node(&u->g, "U.r1");
	assert_indices(u, u1, "j,i", "k");
	assert_exprs(u, u1, "(* A[i,k] A[j,k])", "-");
	ck_assert_int_eq(u1->ops[0].idx[0], 1);
	ck_assert_int_eq(u1->ops[0].idx[1], 2);
	assert_exprs(u, unit_node(&u->g, "U"), "(/ (* S[j,i] c[l]) U.r1[j,i])", "-");
	unit_free(u);
}
END_TEST

START_TEST(values_of_names)
{
	/* a size is its value, an index its position, inf a constant */
	UnitRun *u = unit_compile_ok("size N = 4, L = 2 * N\ninput x[N]\n"
	                             "y[i] = x[i] * L + i\n"
	                             "z[i, j] = select(j <= i, x[j] * x[i], -inf)\n"
	                             "w[i] = x[i] + inf\n"
	                             "output y, z, w\n");
	assert_exprs(u, unit_node(&u->g, "y"), "(+ (* x[i] 8) #i)", "-");
	assert_exprs(u, unit_node(&u->g, "z"), "select((<= #j #i),(* x[j] x[i]),(neg inf))", "-");
	assert_exprs(u, unit_node(&u->g, "w"), "(+ x[i] inf)", "-");
	unit_free(u);
}
END_TEST

START_TEST(input_is_output)
{
	UnitRun *u = unit_compile_ok("size N = 4\ninput x[N], y[N]\nz[i] = x[i]\noutput z, x\n");
	ck_assert_int_eq(u->g.noutputs, 2);
	ck_assert_int_eq(u->g.outputs[0], unit_node_id(&u->g, "z"));
	ck_assert_int_eq(u->g.outputs[1], unit_node_id(&u->g, "x"));
	ck_assert(unit_node(&u->g, "x")->is_output);
	ck_assert(!unit_node(&u->g, "y")->is_output);
	unit_free(u);
	/* the output statement may come first */
	u = unit_compile_ok("output z\nsize N = 4\ninput x[N]\nz[i] = x[i]\n");
	ck_assert_int_eq(u->g.noutputs, 1);
	unit_free(u);
}
END_TEST

/* ---- sizes --------------------------------------------------------------------- */

START_TEST(size_arithmetic)
{
	UnitRun *u = unit_compile_ok("size A = 6, B = A / 2 * (A - 1) + -1, C = (B + 1) / 5 - A / 3\n"
	                             "size D = 9223372036854775807 / 9223372036854775807\n"
	                             "size E = 007\n"
	                             "input x[A, B]\ny = sum[i, j](x[i, j])\noutput y\n");
	ck_assert_int_eq(unit_size(&u->g, "A")->value, 6);
	ck_assert_int_eq(unit_size(&u->g, "B")->value, 14);
	ck_assert_int_eq(unit_size(&u->g, "C")->value, 1);
	ck_assert_int_eq(unit_size(&u->g, "D")->value, 1);
	ck_assert_int_eq(unit_size(&u->g, "E")->value, 7);
	ck_assert_int_eq(u->g.nsizes, 5);
	ck_assert_str_eq(u->g.sizes[0].name, "A");
	ck_assert(!u->g.sizes[0].overridden);
	unit_free(u);
}
END_TEST

START_TEST(size_overrides)
{
	SizeOverride ov[] = {{"D", 3, false}, {"Nope", 5, false}};
	UnitRun *u = unit_compile_ov("size D = 2, H = 4 * D\ninput X[H]\n"
	                             "Y[i] = X[i] * H\noutput Y\n", ov, 2);
	ck_assert_int_eq(u->nerrors, 0);
	tra_verify(&u->g);
	ck_assert(ov[0].used);
	ck_assert(!ov[1].used);
	ck_assert_int_eq(unit_size(&u->g, "D")->value, 3);
	ck_assert(unit_size(&u->g, "D")->overridden);
	/* dependent sizes are recomputed from the new value */
	ck_assert_int_eq(unit_size(&u->g, "H")->value, 12);
	ck_assert(!unit_size(&u->g, "H")->overridden);
	const TraNode *y = unit_node(&u->g, "Y");
	ck_assert_int_eq(y->idx[0].size, 12);
	assert_exprs(u, y, "(* X[i] 12)", "-");
	unit_free(u);

	/* overriding a size that is computed from others */
	SizeOverride ov2[] = {{"H", 5, false}};
	u = unit_compile_ov("size D = 2, H = 4 * D\ninput X[H]\noutput X\n", ov2, 1);
	ck_assert_int_eq(u->nerrors, 0);
	ck_assert(ov2[0].used);
	ck_assert_int_eq(unit_size(&u->g, "D")->value, 2);
	ck_assert_int_eq(unit_size(&u->g, "H")->value, 5);
	ck_assert_int_eq(unit_node(&u->g, "X")->idx[0].size, 5);
	unit_free(u);

	/* an override that makes a later size inexact is an error there */
	SizeOverride ov3[] = {{"D", 3, false}};
	u = unit_compile_ov("size D = 2, H = D / 2\ninput X[H]\noutput X\n", ov3, 1);
	ck_assert_int_gt(u->nerrors, 0);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "size division is not exact: 3 / 2 leaves 1"));
	unit_free(u);
}
END_TEST

START_TEST(range_inference_sources)
{
	UnitRun *u = unit_compile_ok("size N = 4, M = 3\ninput X[N, M], Z[2 * N, 7]\n"
	                             "Y[a, b, c, d] = X[a, b] + Z[c, d]\n"
	                             "output Y\n");
	const TraNode *y = unit_node(&u->g, "Y");
	ck_assert_int_eq(y->idx[0].size, 4);
	ck_assert_str_eq(y->idx[0].sname, "N");
	ck_assert_int_eq(y->idx[1].size, 3);
	ck_assert_str_eq(y->idx[1].sname, "M");
	/* a computed dimension has no size name */
	ck_assert_int_eq(y->idx[2].size, 8);
	ck_assert_ptr_null(y->idx[2].sname);
	ck_assert_int_eq(y->idx[3].size, 7);
	ck_assert_ptr_null(y->idx[3].sname);
	/* an index ranges like the first tensor it subscripts; a defined
	 * tensor passes its ranges on */
	const TraNode *in = unit_node(&u->g, "Z");
	ck_assert_int_eq(in->idx[0].size, 8);
	ck_assert_int_eq(in->idx[1].size, 7);
	unit_free(u);
	/* two sizes of equal value are compatible */
	u = unit_compile_ok("size N = 4, K = 4\ninput a[N], b[K]\nc[i] = a[i] + b[i]\noutput c\n");
	unit_free(u);
}
END_TEST

/* ---- types and literals --------------------------------------------------------- */

START_TEST(f32_literal_rounding)
{
	UnitRun *u = unit_compile_ok("size N = 2, B = 16777217\ninput x[N], d[N] f64\n"
	                             "y[i] = x[i] * 0.1\n"
	                             "z[i] = d[i] * 0.1\n"
	                             "c = 0.1\n"
	                             "w[i] = x[i] + B\n"
	                             "v[i] = d[i] + B\n"
	                             "output y, z, c, w, v\n");
	const TraNode *y = unit_node(&u->g, "y");
	const TraExpr *k = &u->g.ex[u->g.ex[y->join].kid[1]];
	ck_assert_int_eq(k->op, TRA_OP_CONST);
	ck_assert(k->value == (double)(float)0.1);
	ck_assert(k->value != 0.1);
	const TraNode *z = unit_node(&u->g, "z");
	k = &u->g.ex[u->g.ex[z->join].kid[1]];
	ck_assert(k->value == 0.1);
	/* a statement that reads no tensor is f32 */
	const TraNode *c = unit_node(&u->g, "c");
	ck_assert_int_eq(c->type, TRART_F32);
	ck_assert(u->g.ex[c->join].value == (double)(float)0.1);
	/* a size's value in an expression is a literal of the statement's type */
	k = &u->g.ex[u->g.ex[unit_node(&u->g, "w")->join].kid[1]];
	ck_assert(k->value == 16777216.0);
	k = &u->g.ex[u->g.ex[unit_node(&u->g, "v")->join].kid[1]];
	ck_assert(k->value == 16777217.0);
	unit_free(u);
}
END_TEST

START_TEST(types_follow_inputs)
{
	UnitRun *u = unit_compile_ok("size N = 3, K = 2\ninput X[N, K] f64, a f64, x32[N]\n"
	                             "Y[i, k] = X[i, k] * a\n"
	                             "Z[i] = sum[k](Y[i, k]) / max[k](Y[i, k])\n"
	                             "m = mean[i](Z[i])\n"
	                             "W[i] = x32[i] * 2\n"
	                             "output m, W\n");
	static const char *const f64s[] = {"X", "a", "Y", "Z", "Z.r1", "m"};
	for (size_t i = 0; i < sizeof f64s / sizeof f64s[0]; i++)
		ck_assert_msg(unit_node(&u->g, f64s[i])->type == TRART_F64, "%s is not f64", f64s[i]);
	ck_assert_int_eq(unit_node(&u->g, "x32")->type, TRART_F32);
	ck_assert_int_eq(unit_node(&u->g, "W")->type, TRART_F32);
	ck_assert_double_eq(unit_node(&u->g, "Y")->bytes, 8.0 * (6 + 6 + 1));
	unit_free(u);
}
END_TEST

/* ---- the dump and the verifier -------------------------------------------------- */

START_TEST(dump_and_verify_samples)
{
	static const char *const progs[] = {
		mlp_src,
		"size B = 2, H = 3, S = 4, D = 5\n"
		"input Q[B, H, S, D], K[B, H, S, D], V[B, H, S, D]\n"
		"A[b, h, s, t] = sum[d](Q[b, h, s, d] * K[b, h, t, d]) / sqrt(D)\n"
		"M[b, h, s]    = max[t](A[b, h, s, t])\n"
		"E[b, h, s, t] = exp(A[b, h, s, t] - M[b, h, s])\n"
		"O[b, h, s, d] = sum[t](E[b, h, s, t] * V[b, h, t, d]) / sum[t](E[b, h, s, t])\n"
		"output O\n",
		"size N = 4, D = 3\ninput x[N, D] f64, g[D] f64, b[D] f64\n"
		"mu[n] = mean[d](x[n, d])\n"
		"var[n] = mean[d](pow(x[n, d] - mu[n], 2))\n"
		"y[n, d] = (x[n, d] - mu[n]) / sqrt(var[n] + 1e-5) * g[d] + b[d]\n"
		"output y\n",
		"size N = 3\ninput x[N]\ns = prod[i](abs(x[i])) + min[j](x[j])\noutput s\n",
	};
	for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
		UnitRun *u = unit_compile_ok(progs[i]);
		UnitMem m;
		unit_mem_open(&m);
		tra_dump(&u->g, m.f);
		const char *d = unit_mem_text(&m);
		ck_assert_ptr_nonnull(strstr(d, "# TRA graph:"));
		ck_assert_ptr_nonnull(strstr(d, "acc = "));
		unit_mem_close(&m);
		unit_free(u);
	}
	UnitRun *u = unit_compile_ok(mlp_src);
	UnitMem m;
	unit_mem_open(&m);
	tra_dump(&u->g, m.f);
	const char *d = unit_mem_text(&m);
	ck_assert_ptr_nonnull(strstr(d, "%4 Hd[i, j] f32 = relu(acc + b1[j])\n"
	                                "    acc = sum[k] X[i, k] * W1[k, j]\n"));
	ck_assert_ptr_nonnull(strstr(d, "%9 P[i, c] f32 output = E[i, c] / P.r1[i]\n"));
	unit_mem_close(&m);
	unit_free(u);
}
END_TEST

START_TEST(expr_uses)
{
	UnitRun *u = unit_compile_ok(mlp_src);
	const TraNode *hd = unit_node(&u->g, "Hd");
	ck_assert(tra_expr_uses(&u->g, hd->epilogue, TRA_OP_RELU));
	ck_assert(tra_expr_uses(&u->g, hd->epilogue, TRA_OP_ACC));
	ck_assert(!tra_expr_uses(&u->g, hd->join, TRA_OP_RELU));
	ck_assert(tra_expr_uses(&u->g, hd->join, TRA_OP_MUL));
	ck_assert(!tra_expr_uses(&u->g, -1, TRA_OP_MUL));
	unit_free(u);
}
END_TEST

/* C-order strides of a node, and of a node's index in an operand: a
 * transposed read, a diagonal (one index in two dimensions: the steps
 * add) and an index the operand does not read. */
START_TEST(strides)
{
	UnitRun *u = unit_compile_ok("size N = 3, M = 4, L = 5\ninput A[N, M, L], S[M, M]\n"
	                             "Y[l, i, j] = A[i, j, l] * S[j, j]\noutput Y\n");
	const TraNode *a = unit_node(&u->g, "A"), *y = unit_node(&u->g, "Y");
	ck_assert_int_eq(tra_node_stride(a, 0), 20);
	ck_assert_int_eq(tra_node_stride(a, 1), 5);
	ck_assert_int_eq(tra_node_stride(a, 2), 1);
	ck_assert_int_eq(tra_node_stride(y, 0), 12);
	int ka = y->ops[0].node == unit_node_id(&u->g, "A") ? 0 : 1, ks = 1 - ka;
	ck_assert_int_eq(tra_operand_stride(&u->g, y, ka, 0), 1);  /* l */
	ck_assert_int_eq(tra_operand_stride(&u->g, y, ka, 1), 20); /* i */
	ck_assert_int_eq(tra_operand_stride(&u->g, y, ka, 2), 5);  /* j */
	ck_assert_int_eq(tra_operand_stride(&u->g, y, ks, 2), 5);  /* S[j, j]: 4 + 1 */
	ck_assert_int_eq(tra_operand_stride(&u->g, y, ks, 0), 0);
	unit_free(u);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------- */

#define DECLS "size N = 4, M = 3\ninput X[N, M], v[N], w[M], a, D[N, M] f64\n"

/* A program with errors, a phrase one of its messages must contain, and
 * how many errors it has (0: any number). */
static const struct {
	const char *src;
	const char *phrase;
	int nerrors;
} error_cases[] = {
	/* names */
	{DECLS "Y[i] = X[i, k]\noutput Y\n", "index 'k' is free", 1},
	{DECLS "Y[i] = X[i, k]\noutput Y\n", "did you mean sum[k](...)?", 1},
	{DECLS "Y[i] = Z[i]\noutput Y\n", "undefined tensor 'Z'", 1},
	{DECLS "Y[i] = v[i] * q\noutput Y\n", "undefined name 'q'", 1},
	{DECLS "Y[i] = Z[i]\nZ[i] = v[i]\noutput Y\n", "'Z' is used before its definition", 1},
	{DECLS "Y[i] = Z[i]\nZ[i] = v[i]\noutput Y\n", "note: 'Z' is defined here", 1},
	{DECLS "Y[i] = Y[i] + v[i]\noutput Y\n", "'Y' is used in its own definition", 1},
	{DECLS "Y[i] = v[i]\nY[i] = v[i]\noutput Y\n", "'Y' is already defined", 1},
	{DECLS "Y[i] = v[i]\nY[i] = v[i]\noutput Y\n", "note: 'Y'", 1},
	{DECLS "size N = 5\noutput X\n", "'N' is already defined", 1},
	{DECLS "size X = 5\noutput X\n", "'X' is already defined", 1},
	{DECLS "input v[M]\noutput X\n", "'v' is already defined", 1},
	{DECLS "N[i] = v[i]\noutput X\n", "'N' is already defined", 1},
	{DECLS "Y[N] = v[N]\noutput Y\n", "index 'N' has the same name as", 0},
	{DECLS "y = sum[M](w[M])\noutput y\n", "rename the index", 0},
	{DECLS "Y[v] = X[v, 0]\noutput Y\n", "index 'v' has the same name as", 0},
	/* ranges */
	{DECLS "Y[i] = sum[j](X[i, j] * v[j])\noutput Y\n",
	 "index 'j' ranges over N=4 here (dimension 1 of 'v'), but over M=3 elsewhere", 1},
	{DECLS "Y[i] = sum[j](X[i, j] * v[j])\noutput Y\n", "note: 'j' ranges over M=3 here", 1},
	{DECLS "input Z[7]\nY[i] = v[i] + Z[i]\noutput Y\n",
	 "index 'i' ranges over 7 here (dimension 1 of 'Z'), but over N=4 elsewhere", 1},
	{DECLS "Y[i] = i\noutput Y\n", "the range of index 'i' cannot be inferred", 1},
	{DECLS "y = sum[k](k)\noutput y\n", "the range of index 'k' cannot be inferred", 1},
	/* types */
	{DECLS "Y[i, j] = X[i, j] + D[i, j]\noutput Y\n",
	 "'D' is f64, but this statement already reads f32 tensors; one statement cannot mix element types", 1},
	{DECLS "Y[i, j] = X[i, j] + D[i, j]\noutput Y\n", "note: this is f32", 1},
	{DECLS "Y[i, j] = D[i, j] * sum[k](X[i, k])\noutput Y\n", "'X' is f32, but this statement already reads f64", 1},
	/* subscripts */
	{DECLS "Y[i] = X[i, i * i]\noutput Y\n", "it cannot multiply two indices", 1},
	{DECLS "Y[i] = v[i / 2]\noutput Y\n", "it cannot divide an index", 1},
	{DECLS "Y[i] = X[i, M]\noutput Y\n", "'M' is 3, outside dimension 2 of 'X' (0..2)", 1},
	{DECLS "Y[i] = X[i, w]\noutput Y\n", "'w' has 1 dimension, but 0 subscripts are given", 0},
	{DECLS "Y[i] = X[i]\noutput Y\n", "'X' has 2 dimensions, but 1 subscript is given", 1},
	{DECLS "Y[i] = v[i] * X\noutput Y\n", "'X' has 2 dimensions, but 0 subscripts are given", 1},
	{DECLS "Y[i] = v[i, i]\noutput Y\n", "'v' has 1 dimension, but 2 subscripts are given", 1},
	{DECLS "Y[i] = v[i] * a[i]\noutput Y\n", "'a' is a scalar; use it without subscripts", 1},
	{DECLS "Y[i] = N[i]\noutput Y\n", "'N' is a size, not a tensor", 0},
	/* left-hand sides */
	{DECLS "Y[i, i] = X[i, i]\noutput Y\n", "index 'i' appears twice on the left-hand side", 0},
	{DECLS "Y[i + 1] = v[0]\noutput Y\n", "the left-hand side's subscripts must be index names", 0},
	{DECLS "Y[i, j] = v[i]\noutput Y\n", "index 'j' does not occur in the right-hand side", 1},
	/* functions and comparisons */
	{DECLS "Y[i] = foo(v[i])\noutput Y\n", "unknown function 'foo'", 1},
	{DECLS "Y[i] = exp(v[i], 1)\noutput Y\n", "'exp' takes 1 argument, but 2 are given", 1},
	{DECLS "Y[i] = pow(v[i])\noutput Y\n", "'pow' takes 2 arguments, but 1 is given", 1},
	{DECLS "Y[i] = select(v[i] < 0, 1)\noutput Y\n", "'select' takes 3 arguments, but 2 are given", 1},
	{DECLS "Y[i] = max(v[i])\noutput Y\n", "'max' takes 2 arguments, but 1 is given", 1},
	{DECLS "Y[i] = select(v[i], 1, 0)\noutput Y\n", "the first argument of select must be a comparison", 1},
	{DECLS "Y[i] = v[i] < 0\noutput Y\n", "a comparison is allowed only as the first argument of select", 1},
	{DECLS "Y[i] = select(v[i] < 0, v[i] > 1, 0)\noutput Y\n", "a comparison is allowed only as the first", 1},
	{DECLS "Y[i] = exp(v[i] == 0)\noutput Y\n", "a comparison is allowed only as the first", 1},
	/* reductions */
	{DECLS "Y[i] = sum[i](v[i])\noutput Y\n", "reduction index 'i' shadows an index that is already bound", 0},
	{DECLS "y = sum[i](sum[i](v[i]))\noutput y\n", "reduction index 'i' shadows", 0},
	{DECLS "y = sum[i, i](v[i])\noutput y\n", "index 'i' is listed twice", 0},
	{DECLS "Y[i] = sum[j](v[i])\noutput Y\n", "index 'j' does not occur in the reduction's body", 1},
	{DECLS "y = sum[i + 1](v[i])\noutput y\n", "a reduction lists index names", 0},
	{DECLS "y = sum[j](v[j]) + w[j]\noutput y\n", "index 'j' is free", 1},
	/* outputs */
	{DECLS "output Z\n", "output 'Z' is not defined", 1},
	{DECLS "output N\n", "'N' is a size; only tensors can be outputs", 1},
	{DECLS "output v, v\n", "'v' is listed as an output twice", 1},
	{DECLS "Y[i] = v[i]\n", "the program has no output; add a statement such as 'output Y'", 1},
	{"", "the program has no output", 1},
	/* sizes */
	{"size K = 7 / 2\noutput K\n", "size division is not exact: 7 / 2 leaves 1", 0},
	{DECLS "size K = N / (M - 3)\noutput X\n", "division by zero in a size expression", 1},
	{DECLS "size K = 2.5\noutput X\n", "sizes are integers, but '2.5' is not", 1},
	{DECLS "size K = 1e3\noutput X\n", "sizes are integers, but '1e3' is not", 1},
	{DECLS "size K = 99999999999999999999\noutput X\n",
	 "the integer '99999999999999999999' does not fit in 64 bits", 1},
	{DECLS "size K = 4611686018427387904 * 2\noutput X\n", "size arithmetic overflows 64 bits", 1},
	{DECLS "size K = 9223372036854775807 + 1\noutput X\n", "size arithmetic overflows 64 bits", 1},
	{DECLS "size K = -9223372036854775807 - 2\noutput X\n", "size arithmetic overflows 64 bits", 1},
	{DECLS "size K = -(-9223372036854775807 - 1)\noutput X\n", "size arithmetic overflows 64 bits", 1},
	{DECLS "size K = N - 4\noutput X\n", "size 'K' must be at least 1, but it is 0", 1},
	{DECLS "size K = M - N\noutput X\n", "size 'K' must be at least 1, but it is -1", 1},
	{DECLS "size K = N < M\noutput X\n", "comparisons are not allowed in a size expression", 1},
	{DECLS "size K = X\noutput X\n", "'X' is a tensor, but a size expression needs sizes", 1},
	{DECLS "size K = exp(2)\noutput X\n", "a size expression may use only integers, sizes, + - * / and parentheses", 1},
	{DECLS "size K = inf\noutput X\n", "a size expression may use only integers", 1},
	{DECLS "size K = v[0]\noutput X\n", "a size expression may use only integers", 1},
	{DECLS "size K = Q\noutput X\n", "undefined size 'Q'", 1},
	{DECLS "size K = L\nsize L = 2\noutput X\n", "'L' is used before its definition", 1},
	{DECLS "input Z[N - 4]\noutput X\n", "dimension 1 of 'Z' must be at least 1, but it is 0", 1},
	{DECLS "input Z[N, 2 - M]\noutput X\n", "dimension 2 of 'Z' must be at least 1, but it is -1", 1},
	{DECLS "input Z[q]\noutput X\n", "undefined size 'q'", 1},
	{DECLS "input Z[1.5]\noutput X\n", "sizes are integers, but '1.5' is not", 1},
	{DECLS "input Z[i]\noutput X\n", "undefined size 'i'", 1},
	/* "did you mean": misspelt names of the kind the place needs, defined so far */
	{"size N = 4\ninput weights[N]\nY[i] = wieghts[i]\noutput Y\n",
	 "undefined tensor 'wieghts'; did you mean 'weights'?", 1},
	{DECLS "Y[i] = V[i]\noutput Y\n", "undefined tensor 'V'; did you mean 'v'?", 1},
	{DECLS "Y[i] = v[i] * A\noutput Y\n", "undefined name 'A'; did you mean 'a'?", 1},
	{"size N = 4\ninput x[N], alpha\ny[i] = alhpa * x[i]\noutput y\n",
	 "undefined name 'alhpa'; did you mean 'alpha'?", 1},
	{"size Count = 4\ninput x[Count]\ny[i] = x[i] / Cuont\noutput y\n",
	 "undefined name 'Cuont'; did you mean 'Count'?", 1},
	{"size N = 4\ninput x[N, N]\ny[row] = sum[col](x[row, col] * clo)\noutput y\n",
	 "undefined name 'clo'; did you mean 'col'?", 1},
	{"size N = 4\ninput x[N, N]\ny[row] = sum[col](x[row, col]) * clo\noutput y\n",
	 "undefined name 'clo'\n", 1},
	{"size Hidden = 4\ninput x[Hiden]\noutput x\n", "undefined size 'Hiden'; did you mean 'Hidden'?", 1},
	{"size Hidden = 4, Width = Hiden * 2\noutput x\n", "undefined size 'Hiden'; did you mean 'Hidden'?", 0},
	{"size N = 4\ninput hidden[N]\nsize D = hiden\noutput hidden\n", "undefined size 'hiden'\n", 1},
	{"size N = 4\ninput x[N]\nY_hat[i] = x[i]\noutput Yhat\n",
	 "output 'Yhat' is not defined; did you mean 'Y_hat'?", 1},
	{"size Hidden = 4\ninput x[Hidden]\noutput Hiden\n", "output 'Hiden' is not defined\n", 1},
	{"size N = 4\ninput X[N]\nY[row] = X[rwo]\noutput Y\n",
	 "index 'rwo' is free: it is neither on the left-hand side nor reduced; did you mean 'row'?", 1},
	{DECLS "Y[i] = X[i, I]\noutput Y\n", "index 'I' is free: it is neither on the left-hand side "
	 "nor reduced; did you mean 'i'?", 1},
	{DECLS "Y[i] = sigmod(v[i])\noutput Y\n", "unknown function 'sigmod'; did you mean 'sigmoid'?", 1},
	{DECLS "Y[i] = expp(v[i])\noutput Y\n", "unknown function 'expp'; did you mean 'exp'?", 1},
	{DECLS "Y[i] = Exp(v[i])\noutput Y\n", "unknown function 'Exp'; did you mean 'exp'?", 1},
	{DECLS "Y[i] = ln(v[i])\noutput Y\n", "unknown function 'ln'; did you mean 'log'?", 1},
	{DECLS "Y[i] = power(v[i], 2)\noutput Y\n", "unknown function 'power'; did you mean 'pow'?", 1},
	{DECLS "Y[i] = where(v[i] < 0, 0, 1)\noutput Y\n", "unknown function 'where'; did you mean 'select'?", 1},
	{DECLS "Y[i] = softmax(v[i])\noutput Y\n", "unknown function 'softmax'; the functions are exp "
	 "log sqrt tanh sigmoid relu abs pow max min select", 1},
	{DECLS "Y[i] = v(i)\noutput Y\n", "'v' is an input, not a function; read its elements with "
	 "brackets, as v[...]", 1},
	{DECLS "Z[i] = v[i]\nY[i] = Z(i)\noutput Y\n", "'Z' is a tensor, not a function", 1},
	{DECLS "Y[i] = a(v[i] + 1)\noutput Y\n", "'a' is an input, not a function; to multiply, write "
	 "a * (...)", 1},
	{DECLS "Y[i] = N(v[i] + 1)\noutput Y\n", "'N' is a size, not a function; to multiply, write "
	 "N * (...)", 1},
	{DECLS "Z[i] = q[i]\nY[i] = Z(i)\noutput Y\n", "undefined tensor 'q'", 1},
	/* limits */
	{"size B = 1000000000\ninput Z[B, B, B]\noutput Z\n",
	 "tensor 'Z' is too large: its size in bytes overflows 64 bits", 1},
	{"size B = 1000000000\ninput P[B, B], Q[B]\nY[i, j, k] = P[i, j] * Q[k]\noutput Y\n",
	 "tensor 'Y' is too large", 1},
	{"size N = 1\ninput Z[N,N,N,N,N,N,N,N,N,N,N,N,N,N,N,N,N]\noutput Z\n",
	 "tensor 'Z' has 17 dimensions; at most 16 are supported", 1},
	{"size N = 1\ninput Z[N,N,N,N,N,N,N,N,N,N,N,N,N,N,N,N]\n"
	 "Y[a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q] = Z[a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p] * Z[q,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p]\n"
	 "output Y\n",
	 "tensor 'Y' has 17 dimensions; at most 16 are supported", 0},
};

START_TEST(error_classes)
{
	const char *src = error_cases[_i].src;
	UnitRun *u = unit_compile(src);
	const char *d = unit_diag(u);
	ck_assert_msg(u->nerrors > 0, "no error for:\n%s", src);
	ck_assert_msg(strstr(d, error_cases[_i].phrase) != NULL,
	              "expected \"%s\" in the diagnostics of:\n%s\ngot:\n%s",
	              error_cases[_i].phrase, src, d);
	if (error_cases[_i].nerrors)
		ck_assert_msg(u->nerrors == error_cases[_i].nerrors, "%d errors, expected %d, for:\n%s\ngot:\n%s",
		              u->nerrors, error_cases[_i].nerrors, src, d);
	/* the count returned is the count printed */
	ck_assert_int_eq(unit_count(d, ": error: "), u->nerrors);
	ck_assert_int_eq(u->sema_errors, u->diag.nerrors);
	unit_free(u);
}
END_TEST

START_TEST(error_location)
{
	UnitRun *u = unit_compile(DECLS "Y[i] = X[i, k]\noutput Y\n");
	const char *d = unit_diag(u);
	ck_assert_msg(strstr(d, "test.tra:3:13: error: index 'k' is free") != NULL, "%s", d);
	ck_assert_ptr_nonnull(strstr(d, "Y[i] = X[i, k]\n            ^\n"));
	unit_free(u);
	u = unit_compile(DECLS "Y[i] = sum[j](X[i, j] * v[j])\noutput Y\n");
	d = unit_diag(u);
	ck_assert_msg(strstr(d, "test.tra:3:27: error: index 'j' ranges over N=4") != NULL, "%s", d);
	ck_assert_msg(strstr(d, "test.tra:3:20: note: 'j' ranges over M=3 here") != NULL, "%s", d);
	unit_free(u);
	/* the missing output is reported at the end of the last line */
	u = unit_compile("size N = 2\ninput x[N]\n");
	ck_assert_msg(strstr(unit_diag(u), "test.tra:2:11: error: the program has no output") != NULL,
	              "%s", unit_diag(u));
	unit_free(u);
}
END_TEST

START_TEST(size_division_overflow)
{
	/* INT64_MIN / -1 does not fit in 64 bits: an error like any other
	 * overflow, not a crash (on x86, INT64_MIN % -1 raises SIGFPE) */
	UnitRun *u = unit_compile("size K = (-9223372036854775807 - 1) / -1\noutput K\n");
	ck_assert_int_gt(u->nerrors, 0);
	ck_assert_msg(strstr(unit_diag(u), "size arithmetic overflows 64 bits") != NULL, "%s", unit_diag(u));
	unit_free(u);
}
END_TEST

START_TEST(errors_reported_once)
{
	/* a broken definition is reported where it is, not at each use */
	UnitRun *u = unit_compile(DECLS "Y[i] = Q[i]\nZ[i] = Y[i] * 2\nW[i] = Z[i] + Y[i]\noutput W\n");
	ck_assert_int_eq(u->nerrors, 1);
	ck_assert_ptr_nonnull(strstr(unit_diag(u), "undefined tensor 'Q'"));
	unit_free(u);
	/* a broken size: once */
	u = unit_compile("size A = 7 / 2, B = 2 * A\ninput x[A, B]\ny[i] = x[i, 0] * A\noutput y\n");
	ck_assert_int_eq(u->nerrors, 1); /* the size (a constant subscript is fine) */
	unit_free(u);
	/* errors in several statements are all reported */
	u = unit_compile(DECLS "A[i] = q[i]\nB[i] = v[j]\nC[i] = exp(v[i], 1)\noutput A, B, C, X\n");
	ck_assert_int_eq(u->nerrors, 3);
	unit_free(u);
}
END_TEST

/* Programs nested exactly as deep as the parser allows pass sema and
 * tra_verify, and their graph dumps (--emit=tra): the recursive passes
 * are safe at the limit. The limit itself is tested in test_parser. */
START_TEST(nesting_at_the_limit)
{
	static const struct {
		const char *head, *mid, *tail;
		int n;
	} shapes[] = {
		{"(", "x[i]", ")", 999},       /* x[i] is one level */
		{"exp(", "x[i]", ")", 999},
		{"-", "x[i]", "", 999},
		{"", "x[i]", " + x[i]", 999},  /* 1000 terms */
		{"exp(x[i] * ", "x[i]", ")", 499},
		{"(", "sum[k](m[i, k])", ")", 998},
	};
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t len = 128 + (size_t)shapes[s].n * (strlen(shapes[s].head) + strlen(shapes[s].tail));
		char *src = malloc(len), *q = src;
		q += sprintf(q, "size N = 3\ninput x[N], m[N, N]\ny[i] = ");
		for (int k = 0; k < shapes[s].n; k++)
			q += sprintf(q, "%s", shapes[s].head);
		q += sprintf(q, "%s", shapes[s].mid);
		for (int k = 0; k < shapes[s].n; k++)
			q += sprintf(q, "%s", shapes[s].tail);
		strcpy(q, "\noutput y\n");
		UnitRun *u = unit_compile_ok(src);
		UnitMem m;
		unit_mem_open(&m);
		tra_dump(&u->g, m.f);
		ck_assert_ptr_nonnull(strstr(unit_mem_text(&m), "y"));
		unit_mem_close(&m);
		unit_free(u);
		free(src);
	}
}
END_TEST

START_TEST(too_many_bindings)
{
	/* 65 reductions, each binding one index */
	char *src = malloc(65 * 32 + 128);
	size_t p = (size_t)sprintf(src, "size N = 2\ninput v[N]\ny = 0");
	for (int i = 0; i < 65; i++)
		p += (size_t)sprintf(src + p, " + sum[k%d](v[k%d])", i, i);
	strcpy(src + p, "\noutput y\n");
	unit_assert_error(src, "too many indices in one statement: 'k64' would be the 65th bound here");
	/* 64 are fine */
	p = (size_t)sprintf(src, "size N = 2\ninput v[N]\ny = 0");
	for (int i = 0; i < 64; i++)
		p += (size_t)sprintf(src + p, " + sum[k%d](v[k%d])", i, i);
	strcpy(src + p, "\noutput y\n");
	UnitRun *u = unit_compile_ok(src);
	ck_assert_int_eq(u->g.nnodes, 2 + 63);
	unit_free(u);
	free(src);
}
END_TEST

START_TEST(parse_errors_stop_before_sema)
{
	UnitRun *u = unit_compile("size N = 2\nx = (\noutput x\n");
	ck_assert_int_gt(u->parse_errors, 0);
	ck_assert(!u->sema_ran);
	unit_free(u);
}
END_TEST

static Suite *sema_suite(void)
{
	Suite *s = suite_create("sema");
	TCase *tc = tcase_create("graph");
	tcase_add_test(tc, mlp_graph);
	tcase_add_test(tc, mlp_costs);
	tcase_add_test(tc, matmul_cost);
	tcase_add_test(tc, cost_weights);
	tcase_add_test(tc, nested_reduction_split);
	tcase_add_test(tc, nested_reduction_inside_main);
	tcase_add_test(tc, reductions_split_in_order);
	tcase_add_test(tc, main_reduction_in_epilogue);
	tcase_add_test(tc, mean_lowering);
	tcase_add_test(tc, scalars);
	tcase_add_test(tc, operands);
	tcase_add_test(tc, values_of_names);
	tcase_add_test(tc, input_is_output);
	tcase_add_test(tc, dump_and_verify_samples);
	tcase_add_test(tc, expr_uses);
	tcase_add_test(tc, strides);
	suite_add_tcase(s, tc);
	tc = tcase_create("sizes and types");
	tcase_add_test(tc, size_arithmetic);
	tcase_add_test(tc, size_overrides);
	tcase_add_test(tc, range_inference_sources);
	tcase_add_test(tc, f32_literal_rounding);
	tcase_add_test(tc, types_follow_inputs);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_loop_test(tc, error_classes, 0, (int)(sizeof error_cases / sizeof error_cases[0]));
	tcase_add_test(tc, error_location);
	tcase_add_test(tc, size_division_overflow);
	tcase_add_test(tc, errors_reported_once);
	tcase_add_test(tc, too_many_bindings);
	tcase_add_test(tc, nesting_at_the_limit);
	tcase_add_test(tc, parse_errors_stop_before_sema);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(sema_suite)
