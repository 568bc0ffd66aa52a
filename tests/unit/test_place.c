/* test_place.c: Check tests for placement (compiler/place.c) and the
 * simulator (compiler/sim.c).
 *
 * The simulator is checked by hand on a two-task graph (a leaf and a map)
 * under a device model with round numbers: the makespan, busy time,
 * bytes moved and peak memory on one device and on two. Priorities are
 * b-levels, after row fusion too. Every placer is checked on the samples at small sizes: each
 * task on a device in range, the makespan between its lower bounds (the
 * longest path, the work divided among the devices) and the serial time
 * plus every transfer, exactly the serial time on one device, and
 * independent blocks spread over the devices.
 */
#include "unit.h"
#include "kplan.h"

/* A model with round numbers: 1 FLOP/s element-wise, free memory traffic,
 * transfers of 1 byte/s after 10 s. */
static SimModel slow_model(void)
{
	return (SimModel){.gemm_flops = 1, .elt_flops = 1, .mem_bw = 1e15, .link_bw = 1, .latency = 10};
}

static const char map_src[] = "size N = 4\ninput X[N]\nY[i] = X[i] * 2\noutput Y\n";

START_TEST(sim_by_hand)
{
	IaGraph ia;
	UnitRun *u = unit_lowered(map_src, 1, "Y:i=1", &ia);
	SimModel m = slow_model();
	ck_assert_int_eq(ia.ntasks, 2); /* the leaf X, the join Y */
	ia.ndevices = 2;
	place_priorities(&ia, &m);
	ck_assert_double_eq_tol(ia.tasks[1].priority, 4, 1e-9); /* 4 flops at 1 FLOP/s */
	ck_assert_double_eq_tol(ia.tasks[0].priority, 4, 1e-9); /* the leaf costs nothing */
	ia.tasks[0].device = ia.tasks[1].device = 0;
	SimResult r;
	sim_run(&ia, &m, &r);
	ck_assert_double_eq_tol(r.makespan, 4, 1e-9);
	ck_assert_double_eq_tol(r.busy[0], 4, 1e-9);
	ck_assert_double_eq(r.busy[1], 0);
	ck_assert_double_eq(r.bytes_moved, 0);
	ck_assert_double_eq(r.peak_mem[0], 32); /* X and Y, 16 bytes each */
	ia.tasks[1].device = 1;
	sim_run(&ia, &m, &r);
	ck_assert_double_eq_tol(r.makespan, 10 + 16 + 4, 1e-9); /* latency, 16 bytes, compute */
	ck_assert_double_eq(r.bytes_moved, 16);
	ck_assert_int_eq(r.transfers, 1);
	ck_assert_double_eq(r.peak_mem[0], 16);
	ck_assert_double_eq(r.peak_mem[1], 32); /* the copy of X and Y */
	unit_free(u);
}
END_TEST

START_TEST(sim_work_conserving)
{
	/* one device never idles while a task is ready: the makespan is the serial time */
	IaGraph ia;
	UnitRun *u = unit_lowered("size N = 4\ninput X[N]\nY[i] = X[i] * 2\nZ[i] = exp(Y[i]) + 1\n"
	                     "W[i] = X[i] + 1\noutput Z, W\n", 1, NULL, &ia);
	SimModel m = slow_model();
	place_run(&ia, &(Placer){.kind = PLACE_ROUNDROBIN}, 1, &m);
	SimResult r;
	sim_run(&ia, &m, &r);
	double serial = 0;
	for (int t = 0; t < ia.ntasks; t++)
		serial += sim_task_time(&ia.tasks[t], &m);
	ck_assert_double_eq_tol(r.makespan, serial, 1e-9);
	unit_free(u);
}
END_TEST

/* Bounds every placement must meet. */
static void check_placement(const IaGraph *ia, const SimModel *m, int n, const char *what)
{
	double serial = 0, path = 0, moves = 0;
	for (int t = 0; t < ia->ntasks; t++) {
		ck_assert_int_ge(ia->tasks[t].device, 0);
		ck_assert_int_lt(ia->tasks[t].device, n);
		serial += sim_task_time(&ia->tasks[t], m);
		path = ia->tasks[t].priority > path ? ia->tasks[t].priority : path;
		moves += ia->ncons[t] * sim_transfer_time(ia->tasks[t].out_bytes, m);
	}
	SimResult r;
	sim_run(ia, m, &r);
	double eps = 1e-9 * serial;
	ck_assert_msg(r.makespan >= path - eps, "%s: makespan %g below the longest path %g", what, r.makespan, path);
	ck_assert_msg(r.makespan >= serial / n - eps, "%s: makespan %g below the work per device", what, r.makespan);
	ck_assert_msg(r.makespan <= serial + moves + eps, "%s: makespan %g above serial %g", what, r.makespan, serial);
	double busy = 0;
	for (int d = 0; d < n; d++)
		busy += r.busy[d];
	ck_assert_double_eq_tol(busy, serial, eps + 1e-15);
	if (n == 1)
		ck_assert_double_eq_tol(r.makespan, serial, eps + 1e-15);
}

START_TEST(placers)
{
	const char *srcs[] = {unit_mlp_src(), unit_attention_src()};
	SimModel m;
	sim_model_default(&m);
	for (int i = 0; i < 2; i++)
		for (int n = 1; n <= 4; n++)
			for (int k = PLACE_ROUNDROBIN; k <= PLACE_SEARCH; k++) {
				IaGraph ia;
				UnitRun *u = unit_lowered(srcs[i], n, NULL, &ia);
				place_run(&ia, &(Placer){.kind = (PlaceKind)k, .search_calls = 50, .seed = 1}, n, &m);
				char what[100];
				snprintf(what, sizeof what, "%s, %d devices, %s", i ? "attention" : "mlp", n,
				         place_name((PlaceKind)k));
				check_placement(&ia, &m, n, what);
				unit_free(u);
			}
}
END_TEST

START_TEST(independent_blocks_spread)
{
	/* four blocks of a costly map: each placer but LSHS (which balances
	 * memory and traffic, not time) runs them in parallel */
	SimModel m = slow_model();
	m.latency = 0;
	m.link_bw = 1e15;
	for (int k = PLACE_ROUNDROBIN; k <= PLACE_SEARCH; k++) {
		IaGraph ia;
		UnitRun *u = unit_lowered(map_src, 4, "Y:i=4", &ia);
		place_run(&ia, &(Placer){.kind = (PlaceKind)k, .search_calls = 50, .seed = 1}, 4, &m);
		SimResult r;
		sim_run(&ia, &m, &r);
		if (k != PLACE_LSHS)
			ck_assert_msg(fabs(r.makespan - 1) < 1e-9, "%s: makespan %g", place_name((PlaceKind)k), r.makespan);
		unit_free(u);
	}
}
END_TEST

/* Row fusion numbers a group's fused tasks, and the leaves its leader
 * reads, after the leader: b-levels must still be longest paths (they
 * were computed in reverse id order once, and such a leaf took the
 * leader's priority before the leader had one). */
START_TEST(priorities_after_row_fusion)
{
	static const char src[] = "size N = 64, C = 32\ninput X[N, C]\ninput b[C]\n"
	                          "M[i] = max[c](X[i, c])\n"
	                          "E[i, c] = exp(X[i, c] + b[c] - M[i])\n"
	                          "Y[i, c] = E[i, c] / sum[k](E[i, k])\noutput Y\n";
	SimModel m;
	sim_model_default(&m);
	IaGraph ia;
	UnitRun *u = unit_lowered(src, 2, NULL, &ia);
	kplan_fuse_rows(&u->g, &ia);
	place_run(&ia, &(Placer){.kind = PLACE_GREEDY, .seed = 1}, 2, &m);
	int later = 0;
	for (int t = 0; t < ia.ntasks; t++) {
		double longest = 0;
		for (int c = 0; c < ia.ncons[t]; c++) {
			int r = ia.cons[t][c];
			later += r < t;
			longest = ia.tasks[r].priority > longest ? ia.tasks[r].priority : longest;
		}
		double want = sim_task_time(&ia.tasks[t], &m) + longest;
		ck_assert_msg(fabs(ia.tasks[t].priority - want) <= 1e-12 * want, "task %d: priority %g, b-level %g", t,
		              ia.tasks[t].priority, want);
	}
	ck_assert_msg(later > 0, "no task read by a task numbered before it: the case is not exercised");
	unit_free(u);
}
END_TEST

START_TEST(model_options)
{
	SimModel m;
	sim_model_default(&m);
	char err[200];
	ck_assert(sim_model_set(&m, "gemm-flops=2G,latency=1e-6,link-bandwidth=5.5M", err, sizeof err));
	ck_assert_double_eq(m.gemm_flops, 2e9);
	ck_assert_double_eq(m.latency, 1e-6);
	ck_assert_double_eq(m.link_bw, 5.5e6);
	ck_assert(!sim_model_set(&m, "speed=3", err, sizeof err));
	ck_assert(!sim_model_set(&m, "latency=0", err, sizeof err));
	ck_assert(!sim_model_set(&m, "latency=3X", err, sizeof err));
	ck_assert(!sim_model_set(&m, "latency", err, sizeof err));
	PlaceKind k;
	ck_assert(place_parse("critical-path", &k) && k == PLACE_CRITICAL_PATH);
	ck_assert(!place_parse("random", &k));
}
END_TEST

static Suite *place_suite(void)
{
	Suite *s = suite_create("place");
	TCase *tc = tcase_create("sim");
	tcase_add_test(tc, sim_by_hand);
	tcase_add_test(tc, sim_work_conserving);
	tcase_add_test(tc, model_options);
	suite_add_tcase(s, tc);
	tc = tcase_create("placers");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, placers);
	tcase_add_test(tc, independent_blocks_spread);
	tcase_add_test(tc, priorities_after_row_fusion);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(place_suite)
