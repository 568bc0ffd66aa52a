/* test_learn.c: Check tests for the learned placer (compiler/learn.c,
 * learn_weights.c, learn_train.c) and the random local search.
 *
 * - The gradient of an episode's log-probability against central
 *   differences, every weight, for the teacher's and the greedy actions.
 * - REINFORCE alone, from fresh weights, on a toy graph whose best plan
 *   is known (four equal independent jobs on two devices: two each, each
 *   beside its input); the fresh weights' plan is worse, the trained one
 *   is the best.
 * - Imitation: the greedy plan after imitating critical path makes the
 *   same choices, so its makespan is critical path's.
 * - Determinism: one seed, the same weights bit for bit and the same
 *   plan; another seed, other weights.
 * - Weights files: a round trip is exact; every kind of malformed file is
 *   refused with "FILE:LINE: what was expected".
 * - Every learned and searched plan is a valid placement, and search is
 *   never worse than the critical-path plan it starts from.
 */
#include "unit.h"

#include <unistd.h>

static SimModel slow_model(void)
{
	return (SimModel){.gemm_flops = 1, .elt_flops = 1, .mem_bw = 1e15, .link_bw = 1, .latency = 10};
}

/* Four blocks of a costly map, each reading its block of X. */
static const char jobs_src[] = "size N = 64\ninput X[N]\nY[i] = exp(X[i]) * 2\noutput Y\n";

/* The largest relative error of the episode's gradient against central
 * differences, over every weight. */
static double gradient_error(IaGraph *ia, const SimModel *m, LearnAct act)
{
	LearnNet net;
	learn_net_init(&net, 7);
	double *grad = calloc((size_t)learn_nweights, sizeof *grad);
	learn_episode(&net, ia, m, act, NULL, grad);
	double worst = 0, h = 1e-5;
	for (int i = 0; i < learn_nweights; i++) {
		double w = net.w[i];
		net.w[i] = w + h;
		double up = learn_episode(&net, ia, m, act, NULL, NULL);
		net.w[i] = w - h;
		double down = learn_episode(&net, ia, m, act, NULL, NULL);
		net.w[i] = w;
		double fd = (up - down) / (2 * h), err = fabs(fd - grad[i]) / (1e-3 + fabs(fd) + fabs(grad[i]));
		worst = err > worst ? err : worst;
	}
	free(grad);
	learn_net_free(&net);
	return worst;
}

START_TEST(gradients_match_finite_differences)
{
	SimModel m;
	sim_model_default(&m);
	IaGraph ia;
	UnitRun *u = unit_lowered(unit_mlp_src(), 3, NULL, &ia);
	ck_assert_int_gt(ia.ntasks, 10);
	double teacher = gradient_error(&ia, &m, LEARN_TEACHER), greedy = gradient_error(&ia, &m, LEARN_GREEDY);
	ck_assert_msg(teacher < 1e-5, "teacher: relative error %g", teacher);
	ck_assert_msg(greedy < 1e-5, "greedy: relative error %g", greedy);
	unit_free(u);
}
END_TEST

START_TEST(gradient_check_can_fail)
{
	/* a gradient off in one weight is caught: the check above is not vacuous */
	SimModel m;
	sim_model_default(&m);
	IaGraph ia;
	UnitRun *u = unit_lowered(unit_mlp_src(), 3, NULL, &ia);
	LearnNet net;
	learn_net_init(&net, 7);
	double *grad = calloc((size_t)learn_nweights, sizeof *grad);
	learn_episode(&net, &ia, &m, LEARN_TEACHER, NULL, grad);
	int i = learn_tensors[learn_ntensors - 1].offset; /* a weight of PLC's output */
	double h = 1e-6, w = net.w[i];
	net.w[i] = w + h;
	double up = learn_episode(&net, &ia, &m, LEARN_TEACHER, NULL, NULL);
	net.w[i] = w - h;
	double down = learn_episode(&net, &ia, &m, LEARN_TEACHER, NULL, NULL);
	double fd = (up - down) / (2 * h);
	ck_assert_msg(fabs(fd) > 1e-3, "PLC's output weight moves the log-probability (%g)", fd);
	double off = 1.01 * grad[i], err = fabs(fd - off) / (1e-3 + fabs(fd) + fabs(off));
	ck_assert_msg(err > 1e-5, "a gradient 1%% off passes the tolerance (%g)", err);
	free(grad);
	learn_net_free(&net);
	unit_free(u);
}
END_TEST

/* Trains from fresh weights (seed) on the graph, stages as given. */
static LearnTrainStats train(LearnNet *net, IaGraph *ia, const SimModel *m, long imitate, long reinforce,
                             uint64_t seed)
{
	LearnGraph g = {.ia = ia, .name = "test"};
	learn_net_init(net, seed);
	learn_references(&g, 1, m);
	LearnTrainOptions o = {.imitate = imitate, .reinforce = reinforce, .imitate_rate = 3e-3,
	                       .reinforce_rate = 1e-2, .seed = seed};
	LearnTrainStats s;
	learn_train(net, &g, 1, m, &o, &s);
	return s;
}

START_TEST(reinforce_finds_the_best_plan)
{
	SimModel m = slow_model();
	IaGraph ia;
	UnitRun *u = unit_lowered(jobs_src, 2, "Y:i=4", &ia);
	double job = 0;
	for (int t = 0; t < ia.ntasks; t++)
		job = sim_task_time(&ia.tasks[t], &m) > job ? sim_task_time(&ia.tasks[t], &m) : job;
	double best = 2 * job; /* two jobs a device, each beside its input */
	LearnNet net;
	learn_net_init(&net, 3);
	learn_place(&ia, &net, &m);
	ck_assert_msg(sim_makespan(&ia, &m) > best * 1.01, "fresh weights already find it: %g", sim_makespan(&ia, &m));
	learn_net_free(&net);
	LearnTrainStats s = train(&net, &ia, &m, 0, 400, 3);
	learn_place(&ia, &net, &m);
	ck_assert_msg(fabs(sim_makespan(&ia, &m) - best) < 1e-9 * best, "REINFORCE: makespan %g, the best is %g",
	              sim_makespan(&ia, &m), best);
	ck_assert_int_gt(s.sim_calls, 400);
	learn_net_free(&net);
	unit_free(u);
}
END_TEST

START_TEST(imitation_learns_critical_path)
{
	SimModel m;
	sim_model_default(&m);
	IaGraph ia;
	UnitRun *u = unit_lowered(unit_attention_src(), 4, NULL, &ia);
	place_run(&ia, &(Placer){.kind = PLACE_CRITICAL_PATH}, 4, &m);
	double cp = sim_makespan(&ia, &m);
	LearnNet net;
	LearnTrainStats s = train(&net, &ia, &m, 300, 0, 5);
	learn_place(&ia, &net, &m);
	double after = sim_makespan(&ia, &m) / cp;
	ck_assert_msg(fabs(s.start - 1) > 0.05 && fabs(after - 1) < 1e-3,
	              "of critical path's makespan: fresh weights %g, after imitation %g", s.start, after);
	learn_net_free(&net);
	unit_free(u);
}
END_TEST

START_TEST(deterministic_for_a_seed)
{
	SimModel m;
	sim_model_default(&m);
	IaGraph ia;
	UnitRun *u = unit_lowered(unit_mlp_src(), 3, NULL, &ia);
	LearnNet a, b, c;
	train(&a, &ia, &m, 50, 100, 11);
	train(&b, &ia, &m, 50, 100, 11);
	train(&c, &ia, &m, 50, 100, 12);
	ck_assert(memcmp(a.w, b.w, (size_t)learn_nweights * sizeof *a.w) == 0);
	ck_assert(memcmp(a.w, c.w, (size_t)learn_nweights * sizeof *a.w) != 0);
	int *dev = calloc((size_t)ia.ntasks, sizeof *dev);
	learn_place(&ia, &a, &m);
	for (int t = 0; t < ia.ntasks; t++)
		dev[t] = ia.tasks[t].device;
	learn_place(&ia, &b, &m);
	for (int t = 0; t < ia.ntasks; t++)
		ck_assert_int_eq(dev[t], ia.tasks[t].device);
	free(dev);
	learn_net_free(&a);
	learn_net_free(&b);
	learn_net_free(&c);
	unit_free(u);
}
END_TEST

/* ---- weights files ---------------------------------------------------------------- */

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char path[160];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	return path;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* The saved file's text with its n-th line (1-based) replaced by line
 * (NULL: removed), or the text cut after `cut` bytes (when > 0). */
static char *edited(const char *text, int n, const char *line, size_t cut)
{
	size_t len = strlen(text);
	char *out = malloc(len + (line ? strlen(line) : 0) + 2);
	if (cut) {
		memcpy(out, text, cut);
		out[cut] = '\0';
		return out;
	}
	size_t k = 0;
	int no = 1;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
		if (no == n) {
			if (line)
				k += (size_t)sprintf(out + k, "%s\n", line);
		} else {
			memcpy(out + k, p, l);
			k += l;
		}
		p += l;
		no++;
	}
	out[k] = '\0';
	return out;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *t = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(t, 1, (size_t)n, f), n);
	t[n] = '\0';
	fclose(f);
	return t;
}

START_TEST(weights_round_trip)
{
	LearnNet a, b;
	char err[512];
	learn_net_init(&a, 21);
	a.w[0] = 1.0 / 3; /* needs all 17 digits */
	ck_assert_msg(learn_save(&a, tmp_path("w"), err, sizeof err), "%s", err);
	ck_assert_msg(learn_load(&b, tmp_path("w"), err, sizeof err), "%s", err);
	ck_assert(memcmp(a.w, b.w, (size_t)learn_nweights * sizeof *a.w) == 0);
	learn_net_free(&a);
	learn_net_free(&b);
	ck_assert(!learn_save(&a, "/nonexistent/dir/w", err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "cannot write"));
}
END_TEST

START_TEST(malformed_weights_refused)
{
	LearnNet a, b;
	char err[512];
	learn_net_init(&a, 21);
	ck_assert(learn_save(&a, tmp_path("good"), err, sizeof err));
	learn_net_free(&a);
	char *good = read_text(tmp_path("good"));
	/* line 1 is a comment, 2 the magic, 3 the sizes, 4 the first tensor, 5 its first row */
	struct {
		char *text;
		const char *want;
	} cases[] = {
		{strdup(""), ":1: the file ends where 'trac-placer-weights 1' was expected"},
		{strdup("hello\n"), ":1: expected 'trac-placer-weights 1'"},
		{edited(good, 2, "trac-placer-weights 9", 0), ":2: weights file version 9"},
		{edited(good, 3, "hidden 32 rounds 2 task-features 5 device-features 5", 0), ":3: the weights are for hidden 32"},
		{edited(good, 3, "hidden sixteen", 0), ":3: expected 'hidden H"},
		{edited(good, 4, "tensor embedding 16 5", 0), ":4: expected 'tensor embed 16 5'"},
		{edited(good, 5, "1 2 3 4", 0), ":5: row 1 of embed: expected 5 numbers, found 4"},
		{edited(good, 5, "1 2 3 4 5 6", 0), ":5: row 1 of embed: more than 5 numbers"},
		{edited(good, 5, "1 2 nan 4 5", 0), ":5: row 1 of embed: 'nan' is not a finite number"},
		{edited(good, 5, "1 2 1e999 4 5", 0), "is not a finite number"},
		{edited(good, 5, "1 2 x 4 5", 0), ":5: row 1 of embed: expected 5 numbers, found 2"},
		{edited(good, 6, NULL, 0), "expected 5 numbers"},
		{edited(good, 0, NULL, strlen(good) - 4), "the file ends where 'end' was expected"},
		{edited(good, 0, NULL, strlen(good) / 2), ": row "},
	};
	int n = (int)(sizeof cases / sizeof cases[0]);
	for (int i = 0; i < n; i++) {
		write_text(tmp_path("bad"), cases[i].text);
		bool ok = learn_load(&b, tmp_path("bad"), err, sizeof err);
		ck_assert_msg(!ok, "case %d accepted", i);
		ck_assert_msg(strstr(err, tmp_path("bad")) == err, "case %d: '%s' does not start with the path", i, err);
		ck_assert_msg(strstr(err, cases[i].want), "case %d: '%s' lacks '%s'", i, err, cases[i].want);
		free(cases[i].text);
	}
	char *extra = malloc(strlen(good) + 8);
	sprintf(extra, "%send\n", good);
	write_text(tmp_path("bad"), extra);
	ck_assert(!learn_load(&b, tmp_path("bad"), err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "something after 'end'"));
	free(extra);
	ck_assert(!learn_load(&b, tmp_path("missing"), err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	/* comments and blank lines anywhere are fine */
	char *commented = edited(good, 4, "\n# the embedding\ntensor embed 16 5", 0);
	write_text(tmp_path("ok"), commented);
	ck_assert_msg(learn_load(&b, tmp_path("ok"), err, sizeof err), "%s", err);
	learn_net_free(&b);
	free(commented);
	free(good);
}
END_TEST

/* ---- plans ------------------------------------------------------------------------ */

START_TEST(learned_and_search_plans_are_valid)
{
	const char *srcs[] = {unit_mlp_src(), unit_attention_src()};
	SimModel m;
	sim_model_default(&m);
	LearnNet net;
	learn_net_init(&net, 2);
	for (int i = 0; i < 2; i++)
		for (int n = 1; n <= 4; n++) {
			IaGraph ia;
			UnitRun *u = unit_lowered(srcs[i], n, NULL, &ia);
			place_run(&ia, &(Placer){.kind = PLACE_CRITICAL_PATH}, n, &m);
			double cp = sim_makespan(&ia, &m), serial = 0;
			place_run(&ia, &(Placer){.kind = PLACE_SEARCH, .search_calls = 100, .seed = 4}, n, &m);
			ck_assert_msg(sim_makespan(&ia, &m) <= cp, "search: %g, critical path %g", sim_makespan(&ia, &m), cp);
			place_run(&ia, &(Placer){.kind = PLACE_LEARNED, .net = &net}, n, &m);
			bool *seen = calloc((size_t)ia.ntasks, sizeof *seen);
			for (int t = 0; t < ia.ntasks; t++) {
				ck_assert_int_ge(ia.tasks[t].device, 0);
				ck_assert_int_lt(ia.tasks[t].device, n);
				/* priorities are SEL's order: a permutation of 1..ntasks, inputs first */
				int p = (int)ia.tasks[t].priority;
				ck_assert(p >= 1 && p <= ia.ntasks && !seen[p - 1]);
				seen[p - 1] = true;
				for (int k = 0; k < ia.tasks[t].nin; k++)
					ck_assert(ia.tasks[ia.tasks[t].in[k]].priority > ia.tasks[t].priority);
				serial += sim_task_time(&ia.tasks[t], &m);
			}
			free(seen);
			ck_assert(sim_makespan(&ia, &m) >= serial / n * (1 - 1e-9));
			unit_free(u);
		}
	learn_net_free(&net);
}
END_TEST

START_TEST(measured_times_replace_the_model)
{
	SimModel m = slow_model();
	IaGraph ia;
	UnitRun *u = unit_lowered(jobs_src, 1, "Y:i=4", &ia);
	place_run(&ia, &(Placer){.kind = PLACE_ROUNDROBIN}, 1, &m);
	double modelled = sim_makespan(&ia, &m);
	for (int t = 0; t < ia.ntasks; t++)
		ia.tasks[t].measured = ia.tasks[t].kind == IA_JOIN ? 0.5 : 0;
	ck_assert_double_eq_tol(sim_makespan(&ia, &m), 4 * 0.5, 1e-12);
	ck_assert(modelled > 4 * 0.5);
	unit_free(u);
}
END_TEST

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/test_learnXXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	const char *names[] = {"w", "good", "bad", "ok"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unlink(tmp_path(names[i]));
	rmdir(tmpdir);
}

static Suite *learn_suite(void)
{
	Suite *s = suite_create("learn");
	TCase *tc = tcase_create("network");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, gradients_match_finite_differences);
	tcase_add_test(tc, gradient_check_can_fail);
	tcase_add_test(tc, reinforce_finds_the_best_plan);
	tcase_add_test(tc, imitation_learns_critical_path);
	tcase_add_test(tc, deterministic_for_a_seed);
	tcase_add_test(tc, learned_and_search_plans_are_valid);
	tcase_add_test(tc, measured_times_replace_the_model);
	suite_add_tcase(s, tc);
	tc = tcase_create("weights");
	tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, weights_round_trip);
	tcase_add_test(tc, malformed_weights_refused);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(learn_suite)
