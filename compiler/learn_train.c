/* needs: LearnGraphs (placed task graphs with references) and a device model. gives: trained weights. */
/* learn_train.c: training the learned placer (trac --train-placer).
 *
 * Doppler's three stages (RESEARCH.md), all on-policy where they sample:
 *   1. imitation: episodes that take critical path's actions (teacher
 *      forcing), each step raising the log-probability of those actions;
 *   2. REINFORCE against the simulator: an episode samples SEL's and
 *      PLC's actions from their distributions, its plan is simulated
 *      (sim_run), and its reward is reference / makespan, the speed-up
 *      over critical path on that graph, so that graphs of any size
 *      weigh alike. The step follows (reward - baseline) times the
 *      gradient of the log-probability of the actions sampled; the
 *      baseline is a running mean of the graph's own rewards. (Doppler's
 *      code takes the argmax and uses its log-probability as if it were
 *      sampled: that is not on-policy, and not done here.)
 *   3. fine-tuning: stage 2 again on graphs whose tasks carry measured
 *      times (learn_read_trace), which sim_task_time then uses, so the
 *      simulator's errors on this machine are corrected. The driver sets
 *      those times and calls learn_train again.
 * Each step is Adam's, on one episode's gradient clipped to norm
 * LEARN_CLIP. Every LEARN_EVAL_EVERY REINFORCE episodes the greedy
 * policy is evaluated on every graph (learn_evaluate), and the weights
 * that did best, from the end of imitation on, are the ones returned:
 * REINFORCE is noisy, and a worse plan than imitation's is never kept.
 * One seed fixes everything: the order of graphs, the samples, so a
 * run is reproducible bit for bit.
 */
#include "tra.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LEARN_CLIP 5.0         /* largest gradient norm of one step */
#define LEARN_EVAL_EVERY 200   /* REINFORCE episodes between evaluations */
#define LEARN_BASELINE_RATE 0.1 /* weight of a new reward in its graph's baseline */

/* Adam's state. */
typedef struct LearnAdam {
	double *m, *v; /* first and second moment per weight */
	long steps;
	double rate;
} LearnAdam;

static void learn_adam_init(LearnAdam *a, double rate)
{
	a->m = xcalloc((size_t)learn_nweights, sizeof *a->m);
	a->v = xcalloc((size_t)learn_nweights, sizeof *a->v);
	a->steps = 0;
	a->rate = rate;
}

static void learn_adam_free(LearnAdam *a)
{
	free(a->m);
	free(a->v);
}

/* One ascent step along g (scaled to norm LEARN_CLIP at most). */
static void learn_adam_step(LearnAdam *a, LearnNet *net, const double *g)
{
	double norm = 0;
	for (int i = 0; i < learn_nweights; i++)
		norm += g[i] * g[i];
	norm = sqrt(norm);
	double scale = norm > LEARN_CLIP ? LEARN_CLIP / norm : 1;
	a->steps++;
	double c1 = 1 - pow(0.9, (double)a->steps), c2 = 1 - pow(0.999, (double)a->steps);
	for (int i = 0; i < learn_nweights; i++) {
		double gi = g[i] * scale;
		a->m[i] = 0.9 * a->m[i] + 0.1 * gi;
		a->v[i] = 0.999 * a->v[i] + 0.001 * gi * gi;
		net->w[i] += a->rate * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + 1e-8);
	}
}

void learn_references(LearnGraph *graphs, int n, const SimModel *m)
{
	for (int i = 0; i < n; i++) {
		IaGraph *ia = graphs[i].ia;
		place_run(ia, &(Placer){.kind = PLACE_CRITICAL_PATH}, ia->ndevices, m);
		graphs[i].reference = sim_makespan(ia, m);
	}
}

double learn_evaluate(const LearnNet *net, LearnGraph *graphs, int n, const SimModel *m)
{
	double sum = 0;
	for (int i = 0; i < n; i++) {
		learn_place(graphs[i].ia, net, m);
		sum += sim_makespan(graphs[i].ia, m) / (graphs[i].reference > 0 ? graphs[i].reference : 1);
	}
	return n ? sum / n : 1;
}

/* The training run's state. */
typedef struct LearnTrainer {
	LearnNet *net;
	LearnGraph *graphs;
	int n;
	const SimModel *m;
	const LearnTrainOptions *o;
	LearnTrainStats *stats;
	uint64_t rng;
	double *grad;     /* one episode's gradient */
	double *best;     /* the best weights yet ... */
	double best_score; /* ... and their learn_evaluate (lower is better) */
} LearnTrainer;

/* Evaluates the weights now; keeps them if they are the best yet. */
static void learn_checkpoint(LearnTrainer *tr, const char *when)
{
	double score = learn_evaluate(tr->net, tr->graphs, tr->n, tr->m);
	tr->stats->sim_calls += tr->n;
	if (tr->o->log)
		fprintf(tr->o->log, "learn: %s: greedy makespan %.4f of critical path's (mean over %d graphs)%s\n",
		        when, score, tr->n, score < tr->best_score ? ", best yet" : "");
	if (score < tr->best_score) {
		tr->best_score = score;
		memcpy(tr->best, tr->net->w, (size_t)learn_nweights * sizeof *tr->best);
	}
}

static void learn_imitate(LearnTrainer *tr)
{
	LearnAdam adam;
	learn_adam_init(&adam, tr->o->imitate_rate);
	for (long e = 0; e < tr->o->imitate; e++) {
		LearnGraph *g = &tr->graphs[learn_rng_next(&tr->rng) % (uint64_t)tr->n];
		memset(tr->grad, 0, (size_t)learn_nweights * sizeof *tr->grad);
		learn_episode(tr->net, g->ia, tr->m, LEARN_TEACHER, NULL, tr->grad);
		learn_adam_step(&adam, tr->net, tr->grad);
	}
	learn_adam_free(&adam);
}

/* A graph's rewards so far: their running mean is its baseline. */
typedef struct LearnBaseline {
	double mean;
	bool seen;
} LearnBaseline;

/* One sampled episode on graph i and its step: the log-probability's
 * gradient times the reward less the graph's baseline. */
static void learn_reinforce_step(LearnTrainer *tr, LearnAdam *adam, int i, LearnBaseline *b)
{
	LearnGraph *g = &tr->graphs[i];
	memset(tr->grad, 0, (size_t)learn_nweights * sizeof *tr->grad);
	learn_episode(tr->net, g->ia, tr->m, LEARN_SAMPLE, &tr->rng, tr->grad);
	double reward = g->reference / sim_makespan(g->ia, tr->m);
	tr->stats->sim_calls++;
	if (!b->seen) {
		b->seen = true;
		b->mean = reward;
	}
	double advantage = reward - b->mean;
	b->mean += LEARN_BASELINE_RATE * (reward - b->mean);
	for (int k = 0; k < learn_nweights; k++)
		tr->grad[k] *= advantage;
	learn_adam_step(adam, tr->net, tr->grad);
}

static void learn_reinforce(LearnTrainer *tr)
{
	LearnAdam adam;
	learn_adam_init(&adam, tr->o->reinforce_rate);
	LearnBaseline *baseline = xcalloc((size_t)tr->n, sizeof *baseline);
	for (long e = 0; e < tr->o->reinforce; e++) {
		int i = (int)(learn_rng_next(&tr->rng) % (uint64_t)tr->n);
		learn_reinforce_step(tr, &adam, i, &baseline[i]);
		if ((e + 1) % LEARN_EVAL_EVERY == 0 || e + 1 == tr->o->reinforce) {
			char when[64];
			snprintf(when, sizeof when, "REINFORCE episode %ld", e + 1);
			learn_checkpoint(tr, when);
		}
	}
	free(baseline);
	learn_adam_free(&adam);
}

void learn_train(LearnNet *net, LearnGraph *graphs, int n, const SimModel *m, const LearnTrainOptions *o,
                 LearnTrainStats *stats)
{
	TRAC_ASSERT(n > 0);
	*stats = (LearnTrainStats){0};
	LearnTrainer tr = {.net = net, .graphs = graphs, .n = n, .m = m, .o = o, .stats = stats,
	                   .rng = o->seed, .best_score = INFINITY};
	tr.grad = xcalloc((size_t)learn_nweights, sizeof *tr.grad);
	tr.best = xcalloc((size_t)learn_nweights, sizeof *tr.best);
	stats->start = learn_evaluate(net, graphs, n, m);
	stats->sim_calls += n;
	learn_imitate(&tr);
	learn_checkpoint(&tr, o->imitate ? "after imitation" : "at the start");
	learn_reinforce(&tr);
	memcpy(net->w, tr.best, (size_t)learn_nweights * sizeof *tr.best);
	stats->end = tr.best_score;
	free(tr.grad);
	free(tr.best);
}
