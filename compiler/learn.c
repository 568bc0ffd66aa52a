/* needs: an IaGraph and a device model. gives: a device and a priority per task, chosen by two small networks. */
/* learn.c: the learned placer's policies (Doppler, RESEARCH.md).
 *
 * An episode is list scheduling, as the critical-path placer does it:
 * while tasks remain, SEL chooses one of the ready tasks (those whose
 * inputs are all placed), then PLC chooses its device, and the task is
 * booked there from its earliest start (its device free, its inputs
 * arrived) for its sim_task_time. SEL's order becomes the tasks'
 * priorities (the first chosen highest), which the runtime and the
 * simulator use to pick among ready tasks, so SEL schedules and PLC
 * places.
 *
 * The networks, all in doubles, every layer tanh:
 *   - task features (learn_task_features), per task: compute time,
 *     b-level, t-level, bytes in, bytes out; each as log1p(v / mean v)
 *     over the graph, then standardised, so that a graph and the same
 *     graph ten times larger look alike;
 *   - embeddings: h0 = tanh(E x + e), then LEARN_ROUNDS rounds of message
 *     passing h' = tanh(S h + P mean(h of inputs) + C mean(h of readers)
 *     + m), one set of weights for every round;
 *   - SEL: score s_t = a . tanh(A [h_t; x_t] + a0); softmax over the
 *     ready tasks. It depends on the graph alone, so it is computed once
 *     per episode;
 *   - PLC: per device d, device features (learn_device_features: compute
 *     already booked there, the share of the task's input bytes already
 *     there, its earliest start there against the best device's, when
 *     the device is free, whether it is the earliest), then score
 *     q_d = b . tanh(B [h_t; f_d] + b0); softmax over the devices.
 * A softmax ignores a constant added to every score, so neither score
 * has a bias of its own.
 *
 * Gradients: an episode may add to a gradient buffer the gradient of the
 * sum of the log-probabilities of the actions it took. REINFORCE scales
 * it by the episode's advantage (one terminal reward) and imitation
 * takes the teacher's actions (learn_train.c). PLC's part is
 * back-propagated at each decision, into the PLC weights and into the
 * task's embedding; SEL's scores collect theirs, and at the end the
 * embeddings' gradients flow back through the rounds. Nothing of a
 * decision has to be kept.
 *
 * Every parameter lives in one flat array (LearnNet.w), laid out by
 * learn_layout, which the weights file (learn_weights.c), the optimiser
 * and the finite-difference test use alike.
 */
#include "tra.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H LEARN_HIDDEN
#define F LEARN_TASK_FEATURES
#define G LEARN_DEVICE_FEATURES

/* Where each weight tensor starts in LearnNet.w, in learn_tensors order. */
enum {
	W_EMBED = 0,                 /* E: H x F */
	W_EMBED_B = W_EMBED + H * F, /* e: H */
	W_SELF = W_EMBED_B + H,      /* S: H x H */
	W_PRED = W_SELF + H * H,     /* P: H x H */
	W_SUCC = W_PRED + H * H,     /* C: H x H */
	W_MSG_B = W_SUCC + H * H,    /* m: H */
	W_SEL = W_MSG_B + H,         /* A: H x (H + F) */
	W_SEL_B = W_SEL + H * (H + F), /* a0: H */
	W_SEL_OUT = W_SEL_B + H,     /* a: H */
	W_PLC = W_SEL_OUT + H,       /* B: H x (H + G) */
	W_PLC_B = W_PLC + H * (H + G), /* b0: H */
	W_PLC_OUT = W_PLC_B + H,     /* b: H */
	W_COUNT = W_PLC_OUT + H,
};

const LearnTensor learn_tensors[] = {
	{"embed", H, F, W_EMBED},      {"embed_bias", H, 1, W_EMBED_B},
	{"message_self", H, H, W_SELF}, {"message_inputs", H, H, W_PRED},
	{"message_readers", H, H, W_SUCC}, {"message_bias", H, 1, W_MSG_B},
	{"select", H, H + F, W_SEL},   {"select_bias", H, 1, W_SEL_B},
	{"select_out", 1, H, W_SEL_OUT},
	{"place", H, H + G, W_PLC},    {"place_bias", H, 1, W_PLC_B},
	{"place_out", 1, H, W_PLC_OUT},
};
const int learn_ntensors = (int)(sizeof learn_tensors / sizeof learn_tensors[0]);
const int learn_nweights = W_COUNT;

/* ---- random numbers: splitmix64, so that a seed means the same everywhere ---- */

uint64_t learn_rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

double learn_rng_uniform(uint64_t *s)
{
	return (double)(learn_rng_next(s) >> 11) * 0x1p-53;
}

void learn_net_init(LearnNet *net, uint64_t seed)
{
	net->w = xcalloc((size_t)W_COUNT, sizeof *net->w);
	uint64_t s = seed;
	for (int k = 0; k < learn_ntensors; k++) {
		const LearnTensor *t = &learn_tensors[k];
		if (t->cols == 1 && t->rows > 1)
			continue; /* biases start at zero */
		double scale = sqrt(3.0 / t->cols); /* uniform with variance 1 / fan-in */
		for (int i = 0; i < t->rows * t->cols; i++)
			net->w[t->offset + i] = scale * (2 * learn_rng_uniform(&s) - 1);
	}
}

void learn_net_free(LearnNet *net)
{
	free(net->w);
	net->w = NULL;
}

/* ---- small dense algebra -------------------------------------------------- */

/* y = tanh(W x + b), W rows x cols row-major. */
static void learn_layer(const double *W, const double *b, const double *x, int rows, int cols, double *y)
{
	for (int r = 0; r < rows; r++) {
		double s = b ? b[r] : 0;
		for (int c = 0; c < cols; c++)
			s += W[r * cols + c] * x[c];
		y[r] = tanh(s);
	}
}

/* Back through y = tanh(W x + b) given dy: adds to dW, db, and dx (if
 * not NULL); dy is overwritten with the gradient before the tanh. */
static void learn_layer_back(const double *W, const double *x, const double *y, double *dy, int rows, int cols,
                             double *dW, double *db, double *dx)
{
	for (int r = 0; r < rows; r++) {
		dy[r] *= 1 - y[r] * y[r];
		if (dy[r] == 0)
			continue;
		for (int c = 0; c < cols; c++) {
			dW[r * cols + c] += dy[r] * x[c];
			if (dx)
				dx[c] += W[r * cols + c] * dy[r];
		}
		if (db)
			db[r] += dy[r];
	}
}

static double learn_dot(const double *a, const double *b, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* p = softmax(score[0..n)). */
static void learn_softmax(const double *score, int n, double *p)
{
	double top = score[0], sum = 0;
	for (int i = 1; i < n; i++)
		top = score[i] > top ? score[i] : top;
	for (int i = 0; i < n; i++)
		sum += p[i] = exp(score[i] - top);
	for (int i = 0; i < n; i++)
		p[i] /= sum;
}

/* The index an action takes from p: the largest (ties the first), or one
 * drawn from p (LEARN_SAMPLE). */
static int learn_choose(const double *p, int n, LearnAct act, uint64_t *rng)
{
	if (act == LEARN_SAMPLE) {
		double u = learn_rng_uniform(rng), c = 0;
		for (int i = 0; i < n; i++)
			if ((c += p[i]) > u)
				return i;
		for (int i = n - 1; i > 0; i--) /* rounding left u past the sum */
			if (p[i] > 0)
				return i;
		return 0;
	}
	int best = 0;
	for (int i = 1; i < n; i++)
		if (p[i] > p[best])
			best = i;
	return best;
}

/* ---- task features and embeddings ---------------------------------------------- */

/* One feature column, v[t * F + f] over every task, as log1p(v / mean)
 * standardised: zero mean, unit spread (or all zero when it is flat). */
static void learn_normalise(double *v, int nt, int f)
{
	double mean = 0;
	for (int t = 0; t < nt; t++)
		mean += v[t * F + f] / nt;
	double m2 = 0, mu = 0;
	for (int t = 0; t < nt; t++) {
		double *x = &v[t * F + f];
		*x = mean > 0 ? log1p(*x / mean) : 0;
		mu += *x / nt;
	}
	for (int t = 0; t < nt; t++)
		m2 += (v[t * F + f] - mu) * (v[t * F + f] - mu) / nt;
	double sd = sqrt(m2);
	for (int t = 0; t < nt; t++)
		v[t * F + f] = sd > 1e-12 ? (v[t * F + f] - mu) / sd : 0;
}

/* x[t * F ..]: compute time, b-level, t-level, bytes in, bytes out. */
static void learn_task_features(const IaGraph *ia, const SimModel *m, double *x)
{
	int nt = ia->ntasks;
	double *tlevel = xcalloc((size_t)nt + 1, sizeof *tlevel);
	for (int t = 0; t < nt; t++) {
		const IaTask *k = &ia->tasks[t];
		double in = 0;
		for (int i = 0; i < k->nin; i++) {
			const IaTask *u = &ia->tasks[k->in[i]];
			double reach = tlevel[k->in[i]] + sim_task_time(u, m);
			tlevel[t] = reach > tlevel[t] ? reach : tlevel[t];
			in += u->out_bytes;
		}
		double *f = &x[t * F];
		f[0] = sim_task_time(k, m);
		f[1] = k->priority;
		f[2] = tlevel[t];
		f[3] = in;
		f[4] = k->out_bytes * ia->ncons[t];
	}
	for (int f = 0; f < F; f++)
		learn_normalise(x, nt, f);
	free(tlevel);
}

/* The episode's working state: the graph's features and embeddings, SEL's
 * scores, and the gradients they collect. */
typedef struct LearnRun {
	const LearnNet *net;
	const IaGraph *ia;
	const SimModel *m;
	int nt, n;       /* tasks, devices */
	int **preds;     /* preds = ia's in lists; succs = ia->cons */
	double *x;       /* nt x F: task features */
	double *h;       /* (LEARN_ROUNDS + 1) x nt x H: embeddings per round */
	double *agg;     /* LEARN_ROUNDS x nt x 2H: the means of inputs' and readers' h */
	double *selh;    /* nt x H: SEL's hidden layer */
	double *score;   /* nt: SEL's scores */
	double *grad;    /* the gradient buffer (W_COUNT), or NULL */
	double *dh;      /* nt x H: gradient of the last round's embeddings */
	double *dscore;  /* nt: gradient of SEL's scores */
} LearnRun;

static double *learn_h(const LearnRun *r, int round, int t)
{
	return &r->h[((size_t)round * (size_t)r->nt + (size_t)t) * H];
}

/* The mean of the embeddings h (of round `round`) over a list of tasks. */
static void learn_mean(const LearnRun *r, int round, const int *list, int n, double *out)
{
	memset(out, 0, H * sizeof *out);
	for (int i = 0; i < n; i++) {
		const double *v = learn_h(r, round, list[i]);
		for (int j = 0; j < H; j++)
			out[j] += v[j] / n;
	}
}

/* Embeddings, every round, then SEL's scores. */
static void learn_forward(LearnRun *r)
{
	const double *w = r->net->w;
	for (int t = 0; t < r->nt; t++)
		learn_layer(w + W_EMBED, w + W_EMBED_B, &r->x[t * F], H, F, learn_h(r, 0, t));
	double in[3 * H];
	for (int k = 0; k < LEARN_ROUNDS; k++)
		for (int t = 0; t < r->nt; t++) {
			double *agg = &r->agg[((size_t)k * (size_t)r->nt + (size_t)t) * 2 * H];
			learn_mean(r, k, r->ia->tasks[t].in, r->ia->tasks[t].nin, agg);
			learn_mean(r, k, r->ia->cons[t], r->ia->ncons[t], agg + H);
			memcpy(in, learn_h(r, k, t), H * sizeof *in);
			memcpy(in + H, agg, 2 * H * sizeof *in);
			double *out = learn_h(r, k + 1, t);
			for (int j = 0; j < H; j++) {
				double s = w[W_MSG_B + j] + learn_dot(w + W_SELF + j * H, in, H) +
				           learn_dot(w + W_PRED + j * H, in + H, H) +
				           learn_dot(w + W_SUCC + j * H, in + 2 * H, H);
				out[j] = tanh(s);
			}
		}
	double z[H + F];
	for (int t = 0; t < r->nt; t++) {
		memcpy(z, learn_h(r, LEARN_ROUNDS, t), H * sizeof *z);
		memcpy(z + H, &r->x[t * F], F * sizeof *z);
		learn_layer(w + W_SEL, w + W_SEL_B, z, H, H + F, &r->selh[t * H]);
		r->score[t] = learn_dot(w + W_SEL_OUT, &r->selh[t * H], H);
	}
}

/* Back from SEL's scores' and the embeddings' gradients to every weight. */
static void learn_backward(LearnRun *r)
{
	const double *w = r->net->w;
	double *g = r->grad, z[H + F], dz[H + F], dsel[H];
	for (int t = 0; t < r->nt; t++) {
		if (r->dscore[t] == 0)
			continue;
		memcpy(z, learn_h(r, LEARN_ROUNDS, t), H * sizeof *z);
		memcpy(z + H, &r->x[t * F], F * sizeof *z);
		memset(dz, 0, sizeof dz);
		for (int j = 0; j < H; j++) {
			g[W_SEL_OUT + j] += r->dscore[t] * r->selh[t * H + j];
			dsel[j] = r->dscore[t] * w[W_SEL_OUT + j];
		}
		learn_layer_back(w + W_SEL, z, &r->selh[t * H], dsel, H, H + F, g + W_SEL, g + W_SEL_B, dz);
		for (int j = 0; j < H; j++)
			r->dh[t * H + j] += dz[j];
	}
	double *prev = xcalloc((size_t)r->nt * H + 1, sizeof *prev), in[3 * H], din[3 * H];
	for (int k = LEARN_ROUNDS - 1; k >= 0; k--) {
		memset(prev, 0, (size_t)r->nt * H * sizeof *prev);
		for (int t = 0; t < r->nt; t++) {
			double *dy = &r->dh[t * H];
			const double *y = learn_h(r, k + 1, t);
			memcpy(in, learn_h(r, k, t), H * sizeof *in);
			memcpy(in + H, &r->agg[((size_t)k * (size_t)r->nt + (size_t)t) * 2 * H], 2 * H * sizeof *in);
			memset(din, 0, sizeof din);
			for (int j = 0; j < H; j++) {
				double d = dy[j] * (1 - y[j] * y[j]);
				if (d == 0)
					continue;
				g[W_MSG_B + j] += d;
				for (int c = 0; c < H; c++) {
					g[W_SELF + j * H + c] += d * in[c];
					g[W_PRED + j * H + c] += d * in[H + c];
					g[W_SUCC + j * H + c] += d * in[2 * H + c];
					din[c] += w[W_SELF + j * H + c] * d;
					din[H + c] += w[W_PRED + j * H + c] * d;
					din[2 * H + c] += w[W_SUCC + j * H + c] * d;
				}
			}
			/* the means spread their gradient evenly over what they averaged */
			const IaTask *x = &r->ia->tasks[t];
			for (int c = 0; c < H; c++) {
				prev[t * H + c] += din[c];
				for (int i = 0; i < x->nin; i++)
					prev[x->in[i] * H + c] += din[H + c] / x->nin;
				for (int i = 0; i < r->ia->ncons[t]; i++)
					prev[r->ia->cons[t][i] * H + c] += din[2 * H + c] / r->ia->ncons[t];
			}
		}
		memcpy(r->dh, prev, (size_t)r->nt * H * sizeof *prev);
	}
	free(prev);
	for (int t = 0; t < r->nt; t++)
		learn_layer_back(w + W_EMBED, &r->x[t * F], learn_h(r, 0, t), &r->dh[t * H], H, F, g + W_EMBED,
		                 g + W_EMBED_B, NULL);
}

/* ---- the episode ----------------------------------------------------------------- */

/* Where the list schedule stands. */
typedef struct LearnState {
	double *end;      /* end[t]: when placed task t ends */
	double *free_at;  /* free_at[d]: when device d is free */
	double *booked;   /* booked[d]: seconds of compute placed on d */
	double total;     /* seconds of compute of every task, for scale */
	int *ready;       /* the ready tasks, in the order they became ready */
	int nready;
	int *left;        /* left[t]: inputs not yet placed */
	double *p;        /* softmax scratch, max(nt, n) */
	double *s;        /* score scratch, max(nt, n) */
	double *est;      /* n: the task being placed's earliest start per device ... */
	double *f;        /* n x G: ... its device features ... */
	double *hid;      /* n x H: ... and PLC's hidden layer per device */
} LearnState;

/* f[d * G ..] for task t on every device; est[d] its earliest start there. */
static void learn_device_features(const LearnRun *r, const LearnState *st, int t, double *est, double *f)
{
	const IaTask *k = &r->ia->tasks[t];
	double best = INFINITY, first_free = INFINITY, in = 0;
	for (int d = 0; d < r->n; d++) {
		est[d] = place_earliest(r->ia, t, d, st->end, st->free_at, r->m);
		best = est[d] < best ? est[d] : best;
		first_free = st->free_at[d] < first_free ? st->free_at[d] : first_free;
	}
	for (int i = 0; i < k->nin; i++)
		in += r->ia->tasks[k->in[i]].out_bytes;
	double scale = sim_task_time(k, r->m) + st->total / r->nt + 1e-12, fair = st->total / r->n + 1e-12;
	for (int d = 0; d < r->n; d++) {
		double here = 0;
		for (int i = 0; i < k->nin; i++)
			if (r->ia->tasks[k->in[i]].device == d)
				here += r->ia->tasks[k->in[i]].out_bytes;
		double *x = &f[d * G];
		x[0] = st->booked[d] / fair;
		x[1] = in > 0 ? here / in : 0;
		x[2] = tanh((est[d] - best) / scale);
		x[3] = tanh((st->free_at[d] - first_free) / scale);
		x[4] = est[d] == best;
	}
}

/* PLC's scores for task t (its device features f), into q; with hid, keeps
 * each device's hidden layer (n x H) for the gradient. */
static void learn_plc_scores(const LearnRun *r, int t, const double *f, double *q, double *hid)
{
	const double *w = r->net->w;
	double z[H + G];
	memcpy(z, learn_h(r, LEARN_ROUNDS, t), H * sizeof *z);
	for (int d = 0; d < r->n; d++) {
		memcpy(z + H, &f[d * G], G * sizeof *z);
		learn_layer(w + W_PLC, w + W_PLC_B, z, H, H + G, &hid[d * H]);
		q[d] = learn_dot(w + W_PLC_OUT, &hid[d * H], H);
	}
}

/* Adds the gradient of log p(d = a) under PLC to the weights and to t's embedding. */
static void learn_plc_back(LearnRun *r, int t, const double *f, const double *p, const double *hid, int a)
{
	const double *w = r->net->w;
	double *g = r->grad, z[H + G], dz[H + G], dy[H];
	memcpy(z, learn_h(r, LEARN_ROUNDS, t), H * sizeof *z);
	memset(dz, 0, sizeof dz);
	for (int d = 0; d < r->n; d++) {
		double dq = (d == a) - p[d];
		memcpy(z + H, &f[d * G], G * sizeof *z);
		for (int j = 0; j < H; j++) {
			g[W_PLC_OUT + j] += dq * hid[d * H + j];
			dy[j] = dq * w[W_PLC_OUT + j];
		}
		learn_layer_back(w + W_PLC, z, &hid[d * H], dy, H, H + G, g + W_PLC, g + W_PLC_B, dz);
	}
	for (int j = 0; j < H; j++)
		r->dh[t * H + j] += dz[j];
}

/* SEL: which of the ready tasks goes next (its index in st->ready). */
static int learn_select(LearnRun *r, LearnState *st, LearnAct act, uint64_t *rng, double *logp)
{
	for (int i = 0; i < st->nready; i++)
		st->s[i] = r->score[st->ready[i]];
	learn_softmax(st->s, st->nready, st->p);
	int a = 0;
	if (act == LEARN_TEACHER) { /* critical path: the highest b-level, ties the lower id */
		for (int i = 1; i < st->nready; i++) {
			const IaTask *x = &r->ia->tasks[st->ready[i]], *y = &r->ia->tasks[st->ready[a]];
			if (x->priority > y->priority || (x->priority == y->priority && st->ready[i] < st->ready[a]))
				a = i;
		}
	} else if (act == LEARN_GREEDY) { /* ties as the teacher's: the lower id */
		for (int i = 1; i < st->nready; i++)
			if (st->p[i] > st->p[a] || (st->p[i] == st->p[a] && st->ready[i] < st->ready[a]))
				a = i;
	} else {
		a = learn_choose(st->p, st->nready, act, rng);
	}
	*logp += log(st->p[a]);
	if (r->grad)
		for (int i = 0; i < st->nready; i++)
			r->dscore[st->ready[i]] += (i == a) - st->p[i];
	return a;
}

/* PLC: task t's device. */
static int learn_place_one(LearnRun *r, LearnState *st, int t, LearnAct act, uint64_t *rng, double *logp)
{
	double *est = st->est, *f = st->f, *hid = st->hid;
	learn_device_features(r, st, t, est, f);
	learn_plc_scores(r, t, f, st->s, hid);
	learn_softmax(st->s, r->n, st->p);
	int a = 0;
	if (act == LEARN_TEACHER) { /* critical path: the earliest start, ties the lower device */
		for (int d = 1; d < r->n; d++)
			if (est[d] < est[a])
				a = d;
	} else {
		a = learn_choose(st->p, r->n, act, rng);
	}
	*logp += log(st->p[a]);
	if (r->grad)
		learn_plc_back(r, t, f, st->p, hid, a);
	double dur = sim_task_time(&r->ia->tasks[t], r->m);
	st->end[t] = st->free_at[a] = est[a] + dur;
	st->booked[a] += dur;
	return a;
}

static void learn_state_init(LearnState *st, const LearnRun *r)
{
	int nt = r->nt, most = nt > r->n ? nt : r->n;
	*st = (LearnState){0};
	st->end = xcalloc((size_t)nt + 1, sizeof *st->end);
	st->free_at = xcalloc((size_t)r->n, sizeof *st->free_at);
	st->booked = xcalloc((size_t)r->n, sizeof *st->booked);
	st->ready = xmalloc(((size_t)nt + 1) * sizeof *st->ready);
	st->left = xcalloc((size_t)nt + 1, sizeof *st->left);
	st->p = xmalloc(((size_t)most + 1) * sizeof *st->p);
	st->s = xmalloc(((size_t)most + 1) * sizeof *st->s);
	st->est = xmalloc((size_t)r->n * sizeof *st->est);
	st->f = xmalloc((size_t)r->n * G * sizeof *st->f);
	st->hid = xmalloc((size_t)r->n * H * sizeof *st->hid);
	for (int t = 0; t < nt; t++) {
		st->total += sim_task_time(&r->ia->tasks[t], r->m);
		if ((st->left[t] = r->ia->tasks[t].nin) == 0)
			st->ready[st->nready++] = t;
	}
}

static void learn_state_free(LearnState *st)
{
	free(st->end);
	free(st->free_at);
	free(st->booked);
	free(st->ready);
	free(st->left);
	free(st->p);
	free(st->s);
	free(st->est);
	free(st->f);
	free(st->hid);
}

static void learn_run_init(LearnRun *r, const LearnNet *net, const IaGraph *ia, const SimModel *m, double *grad)
{
	size_t nt = (size_t)ia->ntasks;
	*r = (LearnRun){.net = net, .ia = ia, .m = m, .nt = ia->ntasks, .n = ia->ndevices, .grad = grad};
	r->x = xcalloc(nt * F + 1, sizeof *r->x);
	r->h = xcalloc((LEARN_ROUNDS + 1) * nt * H + 1, sizeof *r->h);
	r->agg = xcalloc(LEARN_ROUNDS * nt * 2 * H + 1, sizeof *r->agg);
	r->selh = xcalloc(nt * H + 1, sizeof *r->selh);
	r->score = xcalloc(nt + 1, sizeof *r->score);
	if (grad) {
		r->dh = xcalloc(nt * H + 1, sizeof *r->dh);
		r->dscore = xcalloc(nt + 1, sizeof *r->dscore);
	}
}

static void learn_run_free(LearnRun *r)
{
	free(r->x);
	free(r->h);
	free(r->agg);
	free(r->selh);
	free(r->score);
	free(r->dh);
	free(r->dscore);
}

double learn_episode(const LearnNet *net, IaGraph *ia, const SimModel *m, LearnAct act, uint64_t *rng, double *grad)
{
	LearnRun r;
	LearnState st;
	double logp = 0;
	place_priorities(ia, m); /* the b-levels: a feature, and the teacher's choice */
	learn_run_init(&r, net, ia, m, grad);
	learn_task_features(ia, m, r.x);
	learn_forward(&r);
	learn_state_init(&st, &r);
	for (int t = 0; t < r.nt; t++)
		ia->tasks[t].device = -1;
	for (int step = 0; step < r.nt; step++) {
		TRAC_ASSERT(st.nready > 0);
		int i = learn_select(&r, &st, act, rng, &logp), t = st.ready[i];
		/* keep the ready list in the order tasks became ready */
		memmove(&st.ready[i], &st.ready[i + 1], (size_t)(st.nready - i - 1) * sizeof *st.ready);
		st.nready--;
		ia->tasks[t].device = learn_place_one(&r, &st, t, act, rng, &logp);
		ia->tasks[t].priority = r.nt - step; /* SEL's order: the first chosen runs first */
		for (int k = 0; k < ia->ncons[t]; k++)
			if (--st.left[ia->cons[t][k]] == 0)
				st.ready[st.nready++] = ia->cons[t][k];
	}
	if (grad)
		learn_backward(&r);
	learn_state_free(&st);
	learn_run_free(&r);
	return logp;
}

void learn_place(IaGraph *ia, const LearnNet *net, const SimModel *m)
{
	learn_episode(net, ia, m, LEARN_GREEDY, NULL, NULL);
}
