/* memgraph.c: memory planning as TURNIP does it (RESEARCH.md), over the
 * placed block tasks and the buffers kplan says they use.
 *
 * The buffers. Every intermediate tensor and every split join's partial
 * block (KplanProgram.pooled) lives in the arena of the memory domain
 * its users compute in (one domain for all CPU workers), at an offset
 * fixed here (a multiple of 64 bytes, MG_ALIGN): the generated program allocates each arena once and never
 * allocates on the hot path. A buffer is resident from its first use to
 * its last, unless it is offloaded to the slower tier in between. An
 * intermediate whose final blocks each lie in one stretch of its layout,
 * and each of whose kernels touches one of them at most, is planned block
 * by block (mg_blocks: on GPUs only under a budget): each block is a
 * buffer, and the tensor is never in memory whole.
 *
 * The linear order. The task graph is put in one topological order,
 * depth first (mg_order: from the results back, each task after what it
 * waits for), so a block is made just before its first reader, and its
 * readers tend to follow each other while it is still resident. The planner walks
 * it step by step. At each step the task's buffers are made resident: a
 * first use allocates, a use after an offload reloads. Then every buffer
 * whose last use this was is freed, and allocation looks ahead: the
 * later steps' first allocations are made at once, in order, as long as
 * they fit in regions already free (so they depend on frees as early as
 * possible; lookahead never grows the arena or evicts).
 *
 * Allocation. The arena is a list of stretches, each occupied or free;
 * a free stretch remembers the memory node that freed it and when. Among
 * the runs of free stretches long enough, the one freed earliest wins
 * (its dependency is the weakest: the tasks it waits for are the most
 * likely done). With none, the arena grows at its end, up to the budget
 * (unbounded: always). Which free room counts depends on the budget
 * (mg_place's passes). Unbounded on CPUs, only room whose wait costs the
 * task nothing: freed by its ancestors, or by tasks of its own device
 * more urgent than it (mg_runs_before: its worker runs them first
 * anyway). Room freed on another device would tie the workers to each
 * other's progress. W3's attention, whose 4 MB blocks of scores were
 * each a stretch of one 512 MB tensor, runs its heads through a 17 MB
 * arena instead of 1.1 GB: its later runs take what they took (medians
 * of 7 runs, 2 threads, old and new interleaved: 249-251 ms against
 * 250-252), but its first run no longer faults in 1.1 GB of fresh pages
 * (0.30-0.33 s against 0.59-1.35). With no room
 * even so, the victims are a run of stretches whose occupants are next
 * used furthest in the future (Belady over ranges): occupants already
 * used are offloaded, occupants allocated ahead and not used yet just
 * give their room back (they are allocated again when their turn comes).
 * The step's own buffers are never victims.
 *
 * The edges. A region's new occupant (its alloc or reload node) waits
 * for the node that freed it: a free node, after every user of the last
 * occupant's residency, or an offload node, likewise. A reload waits for
 * its offload. The users of a residency wait for the alloc or reload
 * that began it (none when it began on fresh memory). These, with the
 * data flow, are the only order imposed: the runtime still picks the
 * order among ready tasks as events arrive. Free and alloc nodes are made
 * only where some edge needs them.
 *
 * Out of core. Under a budget, inputs and outputs are planned block by
 * block too: each input leaf's block (what its readers read) and each
 * final block of an output that no task reads is a buffer (MG_IN,
 * MG_OUT) that holds room in the arena while it is in memory, so the
 * budget counts it, though its bytes lie at their place in the tensor
 * (the generated program maps the tensor's .npy file; the runtime gives
 * the room's pages back while the block holds them). Such a buffer's
 * residency begins with a READ (an input block from its file) or a
 * CLAIM (an output block's room) and ends with a DROP or a WRITE (the
 * finished block to its file), always made, after every user: the file
 * is the slower tier, so an input block evicted is dropped and read
 * again, never offloaded. An input is then never in memory whole, and
 * neither is an output, unless the budget holds them.
 *
 * A budget smaller than some task's own buffers together cannot work;
 * nor can one that leaves a task's buffers no contiguous room. Both are
 * an error naming the task, with the smallest budget that works (found
 * by bisection between the largest task's need and the unbounded
 * arena's size, which works: planning under it never has to evict).
 */
#include "memgraph.h"
#include "util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Every buffer starts at a multiple of this in the arena: a cache line,
 * what the pool's buffers were aligned to (vector loads, BLAS). */
#define MG_ALIGN 64

/* A free stretch's dependency on a buffer's free node that is not made
 * yet (mg_dep_node makes it when an allocation needs it). */
#define MG_PENDING(b) (-2 - (b))

/* A stretch of an arena. */
typedef struct MgSeg {
	int64_t begin, end;
	int buf;   /* its occupant, or -1: free */
	int dep;   /* free: the node a new occupant waits for, MG_PENDING(b), or -1 (fresh) */
	int when;  /* free: the step it was freed at (-1: fresh) */
} MgSeg;

/* A domain's arena while planning. */
typedef struct MgArena {
	MgSeg *seg;
	int nseg, cap;
	int nfree;         /* how many stretches are free: none, and the free
	                      passes are skipped (a row group's thousands of
	                      buffers, placed one after another, each at the end) */
	int64_t top;       /* the end of the last stretch: the arena's size so far */
	int64_t budget;    /* 0: unbounded */
	int64_t released;  /* how many times a stretch was freed (mg_release) */
} MgArena;

/* mg_place's passes over the arena (its opening comment says in which
 * order each kind of plan tries them). The two first refuse free room by
 * who freed it, and remember a miss (MgMiss); they come first in the
 * enum, so that pass < MG_PASS_FREE tells them. */
typedef enum MgPass {
	MG_PASS_IMPLIED, /* free room whose wait the task's ancestors imply */
	MG_PASS_LOCAL,   /* that, or room freed by more urgent work of its own device */
	MG_PASS_FREE,    /* any free room */
	MG_PASS_GROW,    /* the arena's end */
	MG_PASS_EVICT,   /* room held by victims, offloaded or dropped */
} MgPass;

/* A free pass that found nothing (MG_PASS_IMPLIED or MG_PASS_LOCAL, which
 * refuse room by who freed it): it finds nothing for the same task,
 * arena and a request at least as large until some stretch is freed
 * again. So a row group's task of 40,000 buffers, on the other device
 * from the 40,000 stretches the last row block freed, scans them once,
 * not once per buffer (then 140 s for --emit=plan). */
typedef struct MgMiss {
	const MgArena *a;
	int task;
	int64_t released, bytes;
	bool grow;         /* a miss that could grow misses without too */
} MgMiss;

/* A buffer while planning. */
typedef struct MgState {
	int *uses;         /* the steps that use it, in order */
	int nuses, next;   /* next: the index of its next use */
	bool resident, offloaded;
	int64_t offset;
	int start;         /* the alloc or reload node that began the residency, or -1 */
	int *users;        /* the tasks of the residency so far */
	int nusers, capusers;
	int offload;       /* its last offload node, or -1 */
	int free_node;     /* its free node, once made, or -1 */
} MgState;

/* An edge of the memgraph. */
typedef struct MgEdge {
	int from, to;
} MgEdge;

/* mg_final_index's answer for one node: valid where task is the task
 * asked about. */
typedef struct MgFinal {
	int task;          /* the task the entries are for, or -1 */
	int from;          /* the final block the task reads the node from, or -1 */
	int fused;         /* the task's fused reader of the node, or -1 */
} MgFinal;

/* The buffers every task uses (kplan's, and under a budget its input and
 * output blocks, MG_IN and MG_OUT), and what each buffer is: worked out
 * once for all of memgraph_build's planning attempts. */
typedef struct MgUses {
	int **use;         /* per task: its buffers, each once ... */
	int *nuse;         /* ... and how many */
	int64_t *bytes;    /* per buffer: its bytes, if planned (0: the caller's, or none) */
	MgIo *io;
	int64_t *begin;    /* MG_IN, MG_OUT, MG_BLOCK: the block's first byte in its tensor */
	MgView **view;     /* per task: its views of MG_BLOCK buffers ... */
	int *nview;        /* ... and how many (none anywhere: NULL) */
	uint64_t *anc;     /* per task, a bit per task: those it depends on (on CPUs,
	                      up to MG_ANC_TASKS tasks; else NULL) */
	int words;         /* 64-bit words per task in anc */
	int fin_task;      /* mg_final_index's task, or -1 ... */
	MgFinal *fin;      /* ... and per node, what it found */
	int nbufs;         /* the buffers planned: kplan's, or on GPUs ... */
	int base;          /* ... kplan's (base of them) once per GPU: GPU q's copy of
	                      buffer b is q * base + b, in domain q */
	int ndomains;
} MgUses;

typedef struct MgPlan {
	const KplanProgram *kp;
	const MgUses *u;
	Memgraph *mg;
	MgArena *arenas;
	MgState *st;
	MgEdge *edges;
	int nedges, capedges;
	int capops, capres;
	int step;          /* the step being planned */
	int fail_task;     /* the task that found no room, or -1 */
	int for_task;      /* the task whose buffer is being placed (first user) */
	/* the lookahead's place: the step it stopped at, that task's planned
	   buffers and the first it has not made resident yet (it resumes
	   there: a row group's task of 40,000 buffers is not walked again at
	   every step) */
	int ahead_at, ahead_n, ahead_j;
	int *ahead_mine;
	int *deps, capdeps; /* mg_resident's: room for a run's dependencies */
	MgMiss miss[MG_PASS_FREE]; /* mg_place's last miss of each pass before MG_PASS_FREE */
} MgPlan;

const char *memgraph_kind_name(MgKind k)
{
	static const char *const names[] = {"alloc", "free", "offload", "reload", "read", "drop", "claim", "write"};
	return names[k];
}

/* Whether a buffer's bytes are a file's (an input's or output's block),
 * not the arena's. */
static bool mg_in_file(MgIo io)
{
	return io == MG_IN || io == MG_OUT;
}

int memgraph_domain(const IaGraph *ia, int device)
{
	/* every CPU worker shares the process's memory; a GPU has its own */
	return ia->ngpus > 0 ? device % ia->ngpus : 0;
}

/* ---- the graph being built ----------------------------------------------------------- */

static void mg_edge(MgPlan *P, int from, int to)
{
	if (P->nedges == P->capedges) {
		P->capedges = P->capedges ? 2 * P->capedges : 256;
		P->edges = xrealloc(P->edges, (size_t)P->capedges * sizeof *P->edges);
	}
	P->edges[P->nedges++] = (MgEdge){from, to};
}

/* A new memory node; returns its node id. */
static int mg_op(MgPlan *P, MgKind kind, int buf, int64_t offset)
{
	Memgraph *mg = P->mg;
	if (mg->nops == P->capops) {
		P->capops = P->capops ? 2 * P->capops : 64;
		mg->ops = xrealloc(mg->ops, (size_t)P->capops * sizeof *mg->ops);
	}
	int64_t spill = mg_in_file(mg->bufs[buf].io) ? mg->bufs[buf].begin : -1;
	mg->ops[mg->nops] = (MgOp){kind, buf, offset, mg->bufs[buf].bytes, spill, P->step};
	return mg->ntasks + mg->nops++;
}

static MgOp *mg_op_at(MgPlan *P, int node)
{
	return &P->mg->ops[node - P->mg->ntasks];
}

/* Edges from every user of b's residency to node. */
static void mg_after_users(MgPlan *P, int b, int node)
{
	MgState *s = &P->st[b];
	for (int i = 0; i < s->nusers; i++)
		mg_edge(P, s->users[i], node);
	if (s->nusers == 0 && s->start >= 0)
		mg_edge(P, s->start, node);
}

/* The node a free stretch's dep names, made if pending (a buffer's free
 * node, after every user of its last residency). */
static int mg_dep_node(MgPlan *P, int dep)
{
	if (dep >= 0)
		return dep;
	int b = -2 - dep; /* MG_PENDING's inverse */
	MgState *s = &P->st[b];
	if (s->free_node < 0) {
		s->free_node = mg_op(P, MG_FREE, b, s->offset);
		mg_after_users(P, b, s->free_node);
	}
	return s->free_node;
}

/* ---- the arena --------------------------------------------------------------------- */

/* The room a buffer of bytes takes: up to the next MG_ALIGN. */
static int64_t mg_room(int64_t bytes)
{
	return (bytes + MG_ALIGN - 1) / MG_ALIGN * MG_ALIGN;
}

static void mg_seg_insert(MgArena *a, int at, MgSeg s)
{
	if (a->nseg == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->seg = xrealloc(a->seg, (size_t)a->cap * sizeof *a->seg);
	}
	memmove(&a->seg[at + 1], &a->seg[at], (size_t)(a->nseg - at) * sizeof *a->seg);
	a->seg[at] = s;
	a->nseg++;
	a->nfree += s.buf < 0;
}

static void mg_seg_remove(MgArena *a, int at, int n)
{
	for (int i = at; i < at + n; i++)
		a->nfree -= a->seg[i].buf < 0;
	memmove(&a->seg[at], &a->seg[at + n], (size_t)(a->nseg - at - n) * sizeof *a->seg);
	a->nseg -= n;
}

/* The stretch occupied by b, which begins at offset: stretches are in
 * address order and none is empty, so a binary search. */
static int mg_seg_of(const MgArena *a, int b, int64_t offset)
{
	int lo = 0, hi = a->nseg;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (a->seg[mid].begin < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == a->nseg || a->seg[lo].begin != offset || a->seg[lo].buf != b)
		TRAC_BUG("buffer %d is not in its arena at %" PRId64, b, offset);
	return lo;
}

/* Whether b may give its room up now: not used by this step. */
static bool mg_victim_ok(int b, const int *mine, int nmine)
{
	for (int i = 0; i < nmine; i++)
		if (mine[i] == b)
			return false;
	return true;
}

/* The step of b's next use (one past the end when none is left). */
static int mg_next_use(const MgPlan *P, int b)
{
	const MgState *s = &P->st[b];
	return s->next < s->nuses ? s->uses[s->next] : P->mg->ntasks;
}

/* b's residency ends (offloaded or freed): recorded, with its users. */
static void mg_record(MgPlan *P, int b)
{
	Memgraph *mg = P->mg;
	MgState *s = &P->st[b];
	if (s->nusers == 0)
		return;
	if (mg->nres == P->capres) {
		P->capres = P->capres ? 2 * P->capres : 32;
		mg->res = xrealloc(mg->res, (size_t)P->capres * sizeof *mg->res);
	}
	MgRes *r = &mg->res[mg->nres++];
	*r = (MgRes){b, s->offset, mg_room(mg->bufs[b].bytes), s->start, s->nusers,
	             xmalloc((size_t)s->nusers * sizeof *r->users)};
	memcpy(r->users, s->users, (size_t)s->nusers * sizeof *r->users);
}

/* Frees b's stretch, which then waits for dep (freed at step when). */
static void mg_release(MgPlan *P, MgArena *a, int b, int dep, int when)
{
	int i = mg_seg_of(a, b, P->st[b].offset);
	a->seg[i].buf = -1;
	a->nfree++;
	a->released++;
	a->seg[i].dep = dep;
	a->seg[i].when = when;
}

/* b gives its room up for the step's allocation: offloaded if used,
 * else unallocated (allocated again at its first use). */
static void mg_evict(MgPlan *P, MgArena *a, int b)
{
	MgState *s = &P->st[b];
	MgDomain *d = &P->mg->domains[P->mg->bufs[b].domain];
	if (s->nusers == 0) {
		/* allocated ahead, never used: its first residency is yet to come.
		 * (Lookahead stops at the first step it cannot fully place, and
		 * only such a step evicts, so no test has reached this yet; it is
		 * kept for a lookahead that places more freely.) */
		mg_release(P, a, b, s->start, -1);
		s->resident = false;
		s->start = -1;
		P->mg->bufs[b].offset = -1;
		return;
	}
	mg_record(P, b);
	MgBuf *mb = &P->mg->bufs[b];
	if (mg_in_file(mb->io)) {
		/* its file is its slower tier: dropped, and read again at its next
		 * use (an output block's one use is its writer, after which it is
		 * written and gone, so only an input block is evicted used) */
		TRAC_ASSERT(mb->io == MG_IN);
		int node = mg_op(P, MG_DROP, b, s->offset);
		mg_after_users(P, b, node);
		mg_release(P, a, b, node, P->step);
		s->resident = false;
		s->offloaded = true;
		s->offload = node;
		return;
	}
	if (mb->spill < 0) {
		mb->spill = d->spill;
		d->spill += mb->bytes;
	}
	int node = mg_op(P, MG_OFFLOAD, b, s->offset);
	mg_op_at(P, node)->spill = mb->spill;
	mg_after_users(P, b, node);
	d->offloaded += mb->bytes;
	d->offloads++;
	mg_release(P, a, b, node, P->step);
	s->resident = false;
	s->offloaded = true;
	s->offload = node;
}

/* Whether task t depends on task x in the data flow (false where the
 * ancestors were not worked out). */
static bool mg_depends(const MgUses *u, int t, int x)
{
	return u->anc && (u->anc[(size_t)t * (size_t)u->words + (size_t)(x / 64)] >> (x % 64) & 1);
}

/* Whether task x runs before the task being placed on its own: on the
 * same device, more urgent (a worker runs the most urgent of its ready
 * tasks first). */
static bool mg_runs_before(const MgPlan *P, int x)
{
	const IaTask *a = &P->kp->ia->tasks[x], *b = &P->kp->ia->tasks[P->for_task];
	return a->device == b->device && a->priority > b->priority;
}

/* Whether a free stretch's dependency costs the task being placed
 * nothing: fresh memory, or freed after the last use of a buffer all of
 * whose users that task depends on anyway (a free or a drop, which take
 * no time; an offload or a write does, and is never free of cost). */
static bool mg_dep_implied(const MgPlan *P, int dep, bool local)
{
	if (dep == -1)
		return true;
	int b = dep < -1 ? -2 - dep : P->mg->ops[dep - P->mg->ntasks].buf;
	const MgState *s = &P->st[b];
	if (dep >= 0 && (s->free_node != dep || P->mg->ops[dep - P->mg->ntasks].kind == MG_WRITE))
		return false;
	if (s->nusers == 0)
		return false;
	for (int i = 0; i < s->nusers; i++)
		if (!mg_depends(P->u, P->for_task, s->users[i]) && !(local && mg_runs_before(P, s->users[i])))
			return false;
	return true;
}

/* The run of stretches from seg[from] that holds bytes: its end index
 * (exclusive) and whether it must grow the arena; false if it cannot
 * (a stretch it needs is not free, and the pass is not MG_PASS_EVICT or the
 * occupant is the step's own; a free one's wait is more than MG_PASS_IMPLIED
 * or MG_PASS_LOCAL take; or growing passes the budget). *score: free runs, the
 * latest step that freed a stretch of it (lower is better); evicting
 * runs, the earliest next use of an occupant (higher is better). */
static bool mg_run(const MgPlan *P, const MgArena *a, int from, int64_t bytes, MgPass pass,
                   const int *mine, int nmine, int *end, int *score, int64_t *moved)
{
	int64_t begin = a->seg[from].begin;
	bool evict = pass == MG_PASS_EVICT;
	int best = evict ? P->mg->ntasks + 1 : -1;
	*moved = 0;
	int i = from;
	for (; i < a->nseg && a->seg[i].begin < begin + bytes; i++) {
		const MgSeg *s = &a->seg[i];
		if (s->buf < 0) {
			if (pass < MG_PASS_FREE && !mg_dep_implied(P, s->dep, pass == MG_PASS_LOCAL))
				return false;
			if (!evict && s->when > best)
				best = s->when;
			continue;
		}
		if (!evict || !mg_victim_ok(s->buf, mine, nmine))
			return false;
		int next = mg_next_use(P, s->buf);
		if (next < best)
			best = next;
		if (P->st[s->buf].nusers > 0)
			*moved += s->end - s->begin;
	}
	if (begin + bytes > a->top && a->budget > 0 && begin + bytes > a->budget)
		return false;
	*end = i;
	*score = best;
	return true;
}

/* Where b goes: the best run (see the opening comment); its occupants
 * evicted where evict allows; b's stretch carved from its start. The
 * run's dependencies go to deps (room for every stretch). False if
 * there is no room. */
static bool mg_place(MgPlan *P, MgArena *a, int b, bool evict, bool grow, const int *mine, int nmine,
                     int *deps, int *ndeps)
{
	int64_t bytes = mg_room(P->mg->bufs[b].bytes);
	int pick = -1, pick_score = 0;
	int64_t pick_moved = 0;
	/* Free room first, then the arena's end, then victims. Under a
	 * budget, free room that would order the task after work it does not
	 * already wait for comes after the arena's end: while the budget has
	 * room, a block need not wait for the previous one's readers (W2's
	 * row blocks, one after another otherwise). */
	/* On GPUs the same without a budget: a GPU's memory is large, and a
	 * block copied in only after another block's readers are done
	 * leaves the copy engine idle meanwhile (W1's A, which waited for
	 * B's product, the whole copy after it). */
	static const MgPass unbounded[] = {MG_PASS_IMPLIED, MG_PASS_LOCAL, MG_PASS_GROW, MG_PASS_EVICT};
	static const MgPass budgeted[] = {MG_PASS_IMPLIED, MG_PASS_GROW, MG_PASS_FREE, MG_PASS_EVICT};
	bool spread = a->budget > 0 || P->mg->gpus;
	const MgPass *passes = spread ? budgeted : unbounded;
	int npasses = spread ? (evict ? 4 : 1) : (evict ? 4 : 2);
	for (int q = 0; q < npasses && pick < 0; q++) {
		MgPass pass = passes[q];
		if (pass != MG_PASS_GROW && pass != MG_PASS_EVICT && a->nfree == 0)
			continue;
		MgMiss *miss = pass < MG_PASS_FREE ? &P->miss[pass] : NULL;
		if (miss && miss->a == a && miss->task == P->for_task && miss->released == a->released &&
		    bytes >= miss->bytes && (miss->grow || !grow))
			continue;
		if (pass == MG_PASS_GROW) {
			if (grow && (a->budget == 0 || a->top + bytes <= a->budget)) {
				mg_seg_insert(a, a->nseg, (MgSeg){a->top, a->top, -1, -1, -1});
				pick = a->nseg - 1;
			}
			continue;
		}
		for (int i = 0; i < a->nseg; i++) {
			int end, score;
			int64_t moved;
			if (!mg_run(P, a, i, bytes, pass, mine, nmine, &end, &score, &moved))
				continue;
			if (!grow && a->seg[i].begin + bytes > a->top)
				continue;
			bool better = pick < 0 || (pass != MG_PASS_EVICT ? score < pick_score : score > pick_score) ||
			              (pass == MG_PASS_EVICT && score == pick_score && moved < pick_moved);
			if (better) {
				pick = i;
				pick_score = score;
				pick_moved = moved;
			}
		}
		if (pick < 0 && miss)
			*miss = (MgMiss){a, P->for_task, a->released, bytes, grow};
	}
	if (pick < 0 && evict)
		return false;
	if (pick < 0) {
		/* lookahead without growing: no room */
		if (!grow || (a->budget > 0 && a->top + bytes > a->budget))
			return false;
		mg_seg_insert(a, a->nseg, (MgSeg){a->top, a->top, -1, -1, -1});
		pick = a->nseg - 1;
	}
	int64_t begin;
	begin = a->seg[pick].begin;
	/* evict the occupants of the run (their stretches stay where they are) */
	for (int i = pick; i < a->nseg && a->seg[i].begin < begin + bytes; i++)
		if (a->seg[i].buf >= 0)
			mg_evict(P, a, a->seg[i].buf);
	int i = pick;
	*ndeps = 0;
	int last_dep = -1, last_when = -1;
	int64_t last_end = begin;
	for (; i < a->nseg && a->seg[i].begin < begin + bytes; i++) {
		if (a->seg[i].dep != -1)
			deps[(*ndeps)++] = a->seg[i].dep;
		last_dep = a->seg[i].dep;
		last_when = a->seg[i].when;
		last_end = a->seg[i].end;
	}
	mg_seg_remove(a, pick, i - pick);
	mg_seg_insert(a, pick, (MgSeg){begin, begin + bytes, b, -1, -1});
	if (last_end > begin + bytes)
		mg_seg_insert(a, pick + 1, (MgSeg){begin + bytes, last_end, -1, last_dep, last_when});
	if (begin + bytes > a->top)
		a->top = begin + bytes;
	P->st[b].offset = begin;
	return true;
}

/* Makes b resident for the step: allocated (first use) or reloaded. */
static bool mg_resident(MgPlan *P, int b, bool evict, bool grow, const int *mine, int nmine)
{
	MgBuf *mb = &P->mg->bufs[b];
	MgArena *a = &P->arenas[mb->domain];
	MgState *s = &P->st[b];
	if (P->capdeps < a->nseg + 2)
		P->deps = xrealloc(P->deps, (size_t)(P->capdeps = 2 * a->nseg + 2) * sizeof *P->deps);
	int *deps = P->deps, ndeps = 0;
	bool ok = mg_place(P, a, b, evict, grow, mine, nmine, deps, &ndeps);
	if (ok) {
		s->resident = true;
		s->nusers = 0;
		s->start = -1;
		MgDomain *d = &P->mg->domains[mb->domain];
		if (mb->io == MG_IN) {
			/* an input block is read at every residency's start, again after a drop */
			s->start = mg_op(P, MG_READ, b, s->offset);
			if (s->offloaded)
				mg_edge(P, s->offload, s->start);
			d->read += mb->bytes;
			d->reads++;
			s->offloaded = false;
		} else if (mb->io == MG_OUT) {
			s->start = mg_op(P, MG_CLAIM, b, s->offset);
		} else if (s->offloaded) {
			s->start = mg_op(P, MG_RELOAD, b, s->offset);
			mg_op_at(P, s->start)->spill = mb->spill;
			mg_edge(P, s->offload, s->start);
			d->reloaded += mb->bytes;
			d->reloads++;
			s->offloaded = false;
		} else if (ndeps > 0) {
			s->start = mg_op(P, MG_ALLOC, b, s->offset);
		}
		for (int i = 0; i < ndeps; i++)
			mg_edge(P, mg_dep_node(P, deps[i]), s->start);
		if (mb->offset < 0)
			mb->offset = s->offset;
	}
	return ok;
}

/* ---- the linear order -------------------------------------------------------------- */

/* Depth first from the leaves, as TURNIP orders: a LIFO of ready tasks,
 * readers pushed in reverse so the first reader runs first. */
static void mg_order_leaves(const KplanProgram *kp, int *order)
{
	int nt = kp->ia->ntasks, n = 0, top = 0;
	int *left = xcalloc((size_t)nt + 1, sizeof *left), *stack = xcalloc((size_t)nt + 1, sizeof *stack);
	for (int t = 0; t < nt; t++)
		left[t] = kp->tasks[t].npred;
	for (int t = nt - 1; t >= 0; t--)
		if (left[t] == 0)
			stack[top++] = t;
	while (top > 0) {
		int t = stack[--top];
		order[n++] = t;
		const KplanTask *k = &kp->tasks[t];
		for (int i = k->nsucc - 1; i >= 0; i--)
			if (--left[k->succ[i]] == 0)
				stack[top++] = k->succ[i];
	}
	TRAC_ASSERT(n == nt);
	free(left);
	free(stack);
}

/* Depth first from the results: each task with no readers in id order,
 * and before each task everything it waits for, in id order, that is
 * not placed yet (a post-order walk of the predecessors). So a block is
 * made, and an input block read, just before its first reader, and the
 * readers of one block tend to follow each other: the two passes of
 * W5's gradient over one row block of X, while it is in memory, where
 * the order from the leaves places every input leaf first and so reads
 * each row block of X twice. */
static void mg_order_results(const KplanProgram *kp, int *order)
{
	int nt = kp->ia->ntasks, n = 0;
	int *start = xcalloc((size_t)nt + 2, sizeof *start), *pred = NULL;
	for (int t = 0; t < nt; t++)
		for (int i = 0; i < kp->tasks[t].nsucc; i++)
			start[kp->tasks[t].succ[i] + 2]++;
	for (int t = 0; t < nt; t++)
		start[t + 2] += start[t + 1];
	pred = xcalloc((size_t)start[nt + 1] + 1, sizeof *pred);
	for (int t = 0; t < nt; t++) /* in id order: each list ascends */
		for (int i = 0; i < kp->tasks[t].nsucc; i++)
			pred[start[kp->tasks[t].succ[i] + 1]++] = t;
	/* pred[start[t] .. start[t + 1]) are t's predecessors */
	char *state = xcalloc((size_t)nt + 1, 1); /* 0 new, 1 on the stack, 2 placed */
	int *stack = xcalloc((size_t)nt + 1, sizeof *stack), *next = xcalloc((size_t)nt + 1, sizeof *next);
	for (int root = 0; root < nt; root++) {
		if (kp->tasks[root].nsucc > 0 || state[root])
			continue;
		int top = 0;
		stack[top++] = root;
		state[root] = 1;
		next[root] = start[root];
		while (top > 0) {
			int t = stack[top - 1];
			if (next[t] < start[t + 1]) {
				int p = pred[next[t]++];
				if (state[p] == 0) {
					state[p] = 1;
					next[p] = start[p];
					stack[top++] = p;
				}
				continue;
			}
			top--;
			state[t] = 2;
			order[n++] = t;
		}
	}
	TRAC_ASSERT(n == nt);
	free(start);
	free(pred);
	free(state);
	free(stack);
	free(next);
}

/* ---- planning ------------------------------------------------------------------------ */

/* The planned buffers task t uses, into mine; returns how many. */
static int mg_mine(const MgPlan *P, int t, int *mine)
{
	int n = 0;
	for (int i = 0; i < P->u->nuse[t]; i++)
		if (P->mg->bufs[P->u->use[t][i]].bytes > 0)
			mine[n++] = P->u->use[t][i];
	return n;
}

/* The end of b's last residency, after its last use at step i: a free
 * (made when some allocation needs it), or for an input or output block
 * a drop or a write, always made. */
static void mg_last_use(MgPlan *P, int b, int i)
{
	MgBuf *mb = &P->mg->bufs[b];
	MgState *s = &P->st[b];
	int dep = MG_PENDING(b);
	mg_record(P, b);
	if (mg_in_file(mb->io)) {
		dep = s->free_node = mg_op(P, mb->io == MG_IN ? MG_DROP : MG_WRITE, b, s->offset);
		mg_after_users(P, b, dep);
		if (mb->io == MG_OUT) {
			P->mg->domains[mb->domain].written += mb->bytes;
			P->mg->domains[mb->domain].writes++;
		}
	}
	mg_release(P, &P->arenas[mb->domain], b, dep, i);
	s->resident = false;
}

/* Step i's task: its buffers resident, its edges, its frees. */
static bool mg_step(MgPlan *P, int i, int *mine)
{
	int t = P->mg->order[i];
	int n = mg_mine(P, t, mine);
	P->step = i;
	P->for_task = t;
	for (int j = 0; j < n; j++)
		if (!P->st[mine[j]].resident && !mg_resident(P, mine[j], true, true, mine, n)) {
			P->fail_task = t;
			return false;
		}
	for (int j = 0; j < n; j++) {
		MgState *s = &P->st[mine[j]];
		if (s->start >= 0)
			mg_edge(P, s->start, t);
		if (s->nusers == s->capusers) {
			s->capusers = s->capusers ? 2 * s->capusers : 4;
			s->users = xrealloc(s->users, (size_t)s->capusers * sizeof *s->users);
		}
		s->users[s->nusers++] = t;
		s->next++;
	}
	for (int j = 0; j < n; j++)
		if (P->st[mine[j]].next == P->st[mine[j]].nuses)
			mg_last_use(P, mine[j], i);
	return true;
}

/* Lookahead from step *ahead: first allocations into free room only
 * (under a budget, room whose dependency costs nothing), except that an
 * input block may also grow the arena up to the budget (under a budget:
 * unbounded, it would grow without end): its read then overlaps the
 * computation before it (double buffering, where the budget holds two
 * blocks). */
static void mg_lookahead(MgPlan *P, int *ahead)
{
	int nt = P->mg->ntasks;
	int t = P->for_task;
	int *mine = P->ahead_mine;
	for (; *ahead < nt; ++*ahead) {
		if (P->ahead_at != *ahead) {
			P->ahead_at = *ahead;
			P->ahead_n = mg_mine(P, P->mg->order[*ahead], mine);
			P->ahead_j = 0;
		}
		int n = P->ahead_n;
		P->for_task = P->mg->order[*ahead];
		for (; P->ahead_j < n; P->ahead_j++) {
			int j = P->ahead_j;
			MgState *s = &P->st[mine[j]];
			const MgBuf *mb = &P->mg->bufs[mine[j]];
			bool grow = mb->io == MG_IN && P->arenas[mb->domain].budget > 0;
			if (s->resident)
				continue;
			if (s->offloaded || s->next > 0 || !mg_resident(P, mine[j], false, grow, mine, n)) {
				P->for_task = t;
				return;
			}
		}
	}
	P->for_task = t;
}

static void mg_init(MgPlan *P, const KplanProgram *kp, const MgUses *u, Memgraph *mg, int64_t budget, bool results)
{
	const IaGraph *ia = kp->ia;
	memset(P, 0, sizeof *P);
	memset(mg, 0, sizeof *mg);
	P->kp = kp;
	P->u = u;
	P->mg = mg;
	P->fail_task = -1;
	mg->ntasks = ia->ntasks;
	mg->nbufs = u->nbufs;
	mg->ndomains = u->ndomains;
	mg->gpus = ia->ngpus > 0;
	mg->domains = xcalloc((size_t)mg->ndomains, sizeof *mg->domains);
	mg->bufs = xcalloc((size_t)mg->nbufs + 1, sizeof *mg->bufs);
	mg->order = xcalloc((size_t)ia->ntasks + 1, sizeof *mg->order);
	P->arenas = xcalloc((size_t)mg->ndomains, sizeof *P->arenas);
	for (int d = 0; d < mg->ndomains; d++)
		mg->domains[d].budget = P->arenas[d].budget = budget;
	P->st = xcalloc((size_t)mg->nbufs + 1, sizeof *P->st);
	P->ahead_at = -1;
	P->ahead_mine = xcalloc((size_t)mg->nbufs + 1, sizeof *P->ahead_mine);
	(results ? mg_order_results : mg_order_leaves)(kp, mg->order);
	for (int b = 0; b < mg->nbufs; b++) {
		mg->bufs[b].offset = -1;
		mg->bufs[b].spill = -1;
		P->st[b].start = P->st[b].offload = P->st[b].free_node = -1;
	}
	/* each buffer's uses, by step */
	for (int t = 0; t < ia->ntasks; t++)
		for (int j = 0; j < u->nuse[t]; j++)
			mg->bufs[u->use[t][j]].nuses++;
	for (int b = 0; b < mg->nbufs; b++) {
		MgBuf *mb = &mg->bufs[b];
		mb->bytes = mb->nuses > 0 ? u->bytes[b] : 0;
		mb->io = u->io[b];
		mb->begin = u->begin[b];
		P->st[b].uses = xcalloc((size_t)mb->nuses + 1, sizeof *P->st[b].uses);
	}
	for (int i = 0; i < ia->ntasks; i++) {
		int t = mg->order[i];
		for (int j = 0; j < u->nuse[t]; j++) {
			MgState *s = &P->st[u->use[t][j]];
			s->uses[s->nuses++] = i;
			/* a buffer's domain is its users' (one on CPUs; on GPUs, the
			 * GPU whose copy it is, which its writer may not run on) */
			int b = u->use[t][j];
			mg->bufs[b].domain = ia->ngpus > 0 ? b / u->base : memgraph_domain(ia, ia->tasks[t].device);
		}
	}
}

/* The bytes of block k of node n in n's data, from its first element's
 * to one past its last's (a block of columns spans rows it does not
 * use: the range is what the runtime reads and drops). */
static void mg_block_range(const TraNode *n, const IaTask *k, int64_t *begin, int64_t *bytes)
{
	int64_t first = 0, last = 0, stride = 1;
	for (int d = n->rank - 1; d >= 0; d--) {
		first += k->lo[d] * stride;
		last += (k->hi[d] - 1) * stride;
		stride *= n->idx[d].size;
	}
	int64_t size = (int64_t)trart_dtype_size(n->type);
	*begin = first * size;
	*bytes = (last - first + 1) * size;
}

/* What out-of-core buffer task k's KPLAN_PARTIAL slot is: an input
 * leaf's block, an output's final block (an output no node reads), or
 * neither. */
static MgIo mg_io_kind(const TraGraph *g, const IaTask *k, const bool *read)
{
	const TraNode *n = &g->nodes[k->node];
	if (k->kind == IA_INPUT && n->kind == TRA_NODE_INPUT)
		return MG_IN;
	if (n->kind == TRA_NODE_EINSUM && n->is_output && !read[k->node] && k->final &&
	    (k->kind == IA_JOIN || k->kind == IA_AGG || k->kind == IA_FUSED))
		return MG_OUT;
	return MG_ARENA;
}

/* Under a budget: the input and output blocks, buffers of their own. */
static void mg_io_blocks(const KplanProgram *kp, MgUses *u)
{
	const TraGraph *g = kp->g;
	bool *read = xcalloc((size_t)g->nnodes + 1, sizeof *read);
	for (int v = 0; v < g->nnodes; v++)
		for (int q = 0; q < g->nodes[v].nops; q++)
			read[g->nodes[v].ops[q].node] = true;
	for (int t = 0; t < kp->ia->ntasks; t++) {
		const IaTask *k = &kp->ia->tasks[t];
		MgIo io = mg_io_kind(g, k, read);
		if (io == MG_ARENA)
			continue;
		int b = KPLAN_PARTIAL(kp, t);
		TRAC_ASSERT(kp->pooled[b] == 0);
		u->io[b] = io;
		mg_block_range(&g->nodes[k->node], k, &u->begin[b], &u->bytes[b]);
	}
	free(read);
}

/* What mg_view_final asks of task t, per node, in one pass over its
 * inputs and readers (a row group's leader may have tens of thousands of
 * each, and asks about every member): the fused task of it among t's
 * readers (the first), and the final block t reads it from (-1: a read
 * that is not of one final block, or reads of two). Kept until another
 * task asks (fin_task). */
static void mg_final_index(const KplanProgram *kp, MgUses *u, int t)
{
	const IaGraph *ia = kp->ia;
	const IaTask *k = &ia->tasks[t];
	if (u->fin_task == t)
		return;
	u->fin_task = t;
	for (int i = 0; i < k->nin; i++) {
		const IaTask *p = &ia->tasks[k->in[i]];
		if (p->node < 0)
			continue;
		int from = p->final ? k->in[i] : -1;
		if (p->kind == IA_REPART && p->nin == 1 && ia->tasks[p->in[0]].final)
			from = p->in[0];
		MgFinal *f = &u->fin[p->node];
		if (f->task != t)
			*f = (MgFinal){t, from, -1};
		else if (f->from != from)
			f->from = -1;
	}
	for (int i = 0; k->rows >= 0 && i < ia->ncons[t]; i++) { /* (a leader's) */
		const IaTask *c = &ia->tasks[ia->cons[t][i]];
		if (c->kind != IA_FUSED || c->node < 0)
			continue;
		MgFinal *f = &u->fin[c->node];
		if (f->task != t)
			*f = (MgFinal){t, -1, -1};
		if (f->fused < 0)
			f->fused = ia->cons[t][i];
	}
}

/* The final task whose block of intermediate b task t's kernel touches:
 * t's own (b its node), the fused task of b's (t computes b's rows as
 * its row group's leader), or the one final block its read of b comes
 * from (directly, or cut out of it by a repartition). -2: none (a split
 * join writes its partial block, not b); -1: more than one block, or a
 * block gathered from several. */
static int mg_view_final(const KplanProgram *kp, MgUses *u, int t, int b)
{
	const IaGraph *ia = kp->ia;
	const IaTask *k = &ia->tasks[t];
	if (b == k->node)
		return k->final ? t : -2;
	mg_final_index(kp, u, t);
	if (u->fin[b].task != t)
		return -1;
	return k->rows >= 0 && kp->leader[b] == k->node ? u->fin[b].fused : u->fin[b].from;
}

/* Whether task k's block of its node lies in one stretch of the node's
 * layout (each dimension whole after the first it cuts to more than one
 * index), so that its bytes are exactly its elements'. */
static bool mg_block_contiguous(const TraNode *n, const IaTask *k)
{
	int64_t begin, bytes, elements = 1;
	mg_block_range(n, k, &begin, &bytes);
	for (int d = 0; d < n->rank; d++)
		elements *= k->hi[d] - k->lo[d];
	return bytes == elements * (int64_t)trart_dtype_size(n->type);
}

/* The task whose block of node b task t's kernel touches, where b is
 * kept block by block: a final block of an intermediate or output
 * (mg_view_final), or, on GPUs, the one leaf an input's block comes
 * from (t's own, for a leaf; a row group's leader reads its members'
 * inputs: ia_fold). -2: none (a split join writes its partial block);
 * -1: more than one block. */
static int mg_block_view(const KplanProgram *kp, MgUses *u, int t, int b)
{
	if (kp->g->nodes[b].kind != TRA_NODE_INPUT)
		return mg_view_final(kp, u, t, b);
	const IaTask *k = &kp->ia->tasks[t];
	if (k->kind == IA_INPUT)
		return k->node == b ? t : -2;
	int f = -1;
	for (int i = 0; i < k->nin; i++) {
		const IaTask *p = &kp->ia->tasks[k->in[i]];
		if (p->node != b)
			continue;
		if (p->kind != IA_INPUT || (f >= 0 && f != k->in[i]))
			return -1;
		f = k->in[i];
	}
	return f;
}

/* The tensors kept block by block (MG_BLOCK; on CPUs always, on GPUs
 * under a budget): those whose blocks are each one stretch of their
 * layout and whose every kernel touches one block of them at most. On CPUs they are the intermediates
 * (inputs and outputs are out of core instead: mg_io_blocks) and a
 * block is a final one; on GPUs every tensor is a buffer of the GPU's
 * (the host holds inputs and outputs whole), so inputs and outputs are
 * kept so too, an input's blocks its leaves (each a distinct block some
 * reader reads). Block f is a buffer in f's KPLAN_PARTIAL slot, on GPU q
 * q * base + that; the tensor's own buffer is then not planned. Returns
 * a flag per node, true where kept by block. */
static bool *mg_blocks(const KplanProgram *kp, MgUses *u, bool gpus)
{
	const IaGraph *ia = kp->ia;
	const TraGraph *g = kp->g;
	bool *blocked = xcalloc((size_t)g->nnodes + 1, sizeof *blocked);
	for (int v = 0; v < g->nnodes; v++)
		blocked[v] = g->nodes[v].kind == TRA_NODE_EINSUM ? gpus || kp->pooled[v] > 0
		                                                 : gpus && g->nodes[v].kind == TRA_NODE_INPUT;
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *k = &ia->tasks[t];
		if ((k->final || k->kind == IA_INPUT) && !mg_block_contiguous(&g->nodes[k->node], k))
			blocked[k->node] = false;
		for (int i = 0; i < kp->tasks[t].nuse; i++) { /* (only joins and aggregations use any) */
			int b = kp->tasks[t].use[i]; /* a node, or a partial block */
			if (b < g->nnodes && blocked[b] && mg_block_view(kp, u, t, b) == -1)
				blocked[b] = false;
		}
	}
	for (int t = 0; t < ia->ntasks; t++) {
		const IaTask *k = &ia->tasks[t];
		if (!blocked[k->node] || !(k->final || k->kind == IA_INPUT))
			continue;
		int slot = KPLAN_PARTIAL(kp, t);
		TRAC_ASSERT(kp->pooled[slot] == 0);
		for (int q = 0; q < u->ndomains; q++) {
			int b = q * u->base + slot;
			u->io[b] = MG_BLOCK;
			mg_block_range(&g->nodes[k->node], k, &u->begin[b], &u->bytes[b]);
			u->bytes[q * u->base + k->node] = 0;
		}
	}
	return blocked;
}

/* Every task's ancestors in the data flow, as bits (tasks are numbered
 * in a topological order), where there are at most MG_ANC_TASKS tasks:
 * what tells the placement which free room costs a task nothing
 * (mg_dep_implied). Beyond that, no room is taken to cost nothing
 * (MG_ANC_TASKS^2 bits: 8 MB). */
#define MG_ANC_TASKS 8192
static void mg_ancestors(const IaGraph *ia, MgUses *u)
{
	u->anc = NULL;
	u->words = (ia->ntasks + 63) / 64;
	if (ia->ntasks > MG_ANC_TASKS)
		return;
	u->anc = xcalloc((size_t)ia->ntasks * (size_t)u->words + 1, sizeof *u->anc);
	for (int t = 0; t < ia->ntasks; t++) {
		uint64_t *mine = u->anc + (size_t)t * (size_t)u->words;
		for (int i = 0; i < ia->tasks[t].nin; i++) {
			int p = ia->tasks[t].in[i];
			const uint64_t *theirs = u->anc + (size_t)p * (size_t)u->words;
			for (int w = 0; w < u->words; w++)
				mine[w] |= theirs[w];
			mine[p / 64] |= (uint64_t)1 << (p % 64);
		}
	}
}

/* Adds b to task t's list unless it is there (mark[b] == t). */
static void mg_uses_add(MgUses *u, int t, int b, int *mark)
{
	if (mark[b] != t) {
		mark[b] = t;
		u->use[t][u->nuse[t]++] = b;
	}
}

/* Task t's view of node b's block (slot's buffer), once. */
static void mg_view_add(MgUses *u, int t, int b, int slot)
{
	for (int i = 0; i < u->nview[t]; i++)
		if (u->view[t][i].node == b)
			return;
	u->view[t][u->nview[t]++] = (MgView){b, slot, u->begin[slot]};
}

/* On GPU q, the buffer task t touches for kplan's buffer b: q's copy of
 * it, or of the block of it t touches (kept block by block; -1: none). */
static int mg_gpu_buffer(const KplanProgram *kp, MgUses *u, const bool *blocked, int t, int b, int q)
{
	if (!blocked || b >= kp->g->nnodes || !blocked[b])
		return q * u->base + b;
	int f = mg_block_view(kp, u, t, b);
	if (f < 0)
		return -1;
	mg_view_add(u, t, b, KPLAN_PARTIAL(kp, f));
	return q * u->base + KPLAN_PARTIAL(kp, f);
}

/* On GPUs, every task's buffers are its GPU's copies of kplan's (every
 * buffer: inputs and outputs have a copy on each GPU that uses them too),
 * and the copies its pieces go to on other GPUs (kplan_gpu_dest): a
 * block's copy on a GPU lives from its writer's step (the writer copies
 * it there) to its last reader's there. An input leaf uses the copies
 * its block goes to. Nothing is out of core: the host holds the inputs
 * and outputs whole. Under a budget, tensors are kept block by block
 * where they can be (mg_blocks), each task with a view of the
 * blocks it touches (the runtime copies pieces through the views too). */
static void mg_uses_gpus(const KplanProgram *kp, bool by_block, MgUses *u)
{
	const IaGraph *ia = kp->ia;
	int nt = ia->ntasks, nb = kp->nbufs, ng = ia->ngpus;
	u->nbufs = nb * ng;
	u->base = nb;
	u->ndomains = ng;
	u->use = xcalloc((size_t)nt + 1, sizeof *u->use);
	u->nuse = xcalloc((size_t)nt + 1, sizeof *u->nuse);
	u->bytes = xcalloc((size_t)u->nbufs + 1, sizeof *u->bytes);
	u->io = xcalloc((size_t)u->nbufs + 1, sizeof *u->io);
	u->begin = xcalloc((size_t)u->nbufs + 1, sizeof *u->begin);
	int *mark = xmalloc(((size_t)u->nbufs + 1) * sizeof *mark);
	for (int b = 0; b < u->nbufs; b++) {
		u->bytes[b] = kplan_buffer_bytes(kp, b % nb);
		mark[b] = -1;
	}
	bool *blocked = NULL;
	if (by_block) {
		blocked = mg_blocks(kp, u, true);
		u->view = xcalloc((size_t)nt + 1, sizeof *u->view);
		u->nview = xcalloc((size_t)nt + 1, sizeof *u->nview);
	}
	uint64_t *dest = kplan_gpu_dest(kp);
	for (int t = 0; t < nt; t++) {
		const KplanTask *kt = &kp->tasks[t];
		KplanPiece *pc = xcalloc((size_t)ia->ncons[t] + 1, sizeof *pc);
		int npiece = kplan_task_pieces(kp, t, pc), own = ia->tasks[t].device % ng;
		u->use[t] = xcalloc((size_t)kt->nuse + (size_t)npiece * (size_t)ng + 1, sizeof *u->use[t]);
		if (by_block)
			u->view[t] = xcalloc((size_t)kt->nuse + (size_t)npiece + 1, sizeof *u->view[t]);
		for (int i = 0, b; i < kt->nuse; i++)
			if ((b = mg_gpu_buffer(kp, u, blocked, t, kt->use[i], own)) >= 0)
				mg_uses_add(u, t, b, mark);
		for (int q = 0; q < ng; q++)
			for (int i = 0, b; (dest[t] >> q & 1) && i < npiece; i++)
				if ((b = mg_gpu_buffer(kp, u, blocked, t, pc[i].buf, q)) >= 0)
					mg_uses_add(u, t, b, mark);
		free(pc);
	}
	free(dest);
	free(mark);
	free(blocked);
}

/* Every task's buffers: kplan's, each intermediate kept block by block
 * replaced by the block the task touches (mg_blocks), then (out of core)
 * the input blocks it reads and the output blocks it writes (a row
 * group's leader, those of the members it computes). */
static void mg_uses_build(const KplanProgram *kp, bool out_of_core, MgUses *u)
{
	const IaGraph *ia = kp->ia;
	int nt = ia->ntasks, nb = kp->nbufs;
	memset(u, 0, sizeof *u);
	int nn = kp->g->nnodes;
	u->fin_task = -1;
	u->fin = xmalloc(((size_t)nn + 1) * sizeof *u->fin);
	for (int v = 0; v < nn; v++)
		u->fin[v] = (MgFinal){-1, -1, -1};
	if (ia->ngpus > 0) {
		mg_uses_gpus(kp, out_of_core, u);
		return;
	}
	u->nbufs = u->base = nb;
	u->ndomains = 1;
	u->use = xcalloc((size_t)nt + 1, sizeof *u->use);
	u->nuse = xcalloc((size_t)nt + 1, sizeof *u->nuse);
	u->bytes = xcalloc((size_t)nb + 1, sizeof *u->bytes);
	u->io = xcalloc((size_t)nb + 1, sizeof *u->io);
	u->begin = xcalloc((size_t)nb + 1, sizeof *u->begin);
	int *mark = xmalloc(((size_t)nb + 1) * sizeof *mark);
	for (int b = 0; b < nb; b++) {
		u->bytes[b] = kp->pooled[b];
		mark[b] = -1;
	}
	bool *blocked = NULL;
	u->view = NULL;
	u->nview = NULL;
	u->anc = NULL;
	mg_ancestors(ia, u);
	if (out_of_core)
		mg_io_blocks(kp, u);
	blocked = mg_blocks(kp, u, false);
	u->view = xcalloc((size_t)nt + 1, sizeof *u->view);
	u->nview = xcalloc((size_t)nt + 1, sizeof *u->nview);
	for (int t = 0; t < nt; t++) {
		const IaTask *k = &ia->tasks[t];
		const KplanTask *kt = &kp->tasks[t];
		bool runs = k->kind == IA_JOIN || k->kind == IA_AGG;
		size_t room = (size_t)kt->nuse + 1;
		if (runs && out_of_core)
			room += (size_t)k->nin + 1 + (k->rows >= 0 ? (size_t)ia->ncons[t] : 0);
		u->use[t] = xcalloc(room, sizeof *u->use[t]);
		u->view[t] = xcalloc((size_t)kt->nuse + 1, sizeof *u->view[t]);
		for (int i = 0; i < kt->nuse; i++) {
			int b = kt->use[i], f;
			if (!blocked || b >= kp->g->nnodes || !blocked[b]) {
				mg_uses_add(u, t, b, mark);
			} else if ((f = mg_view_final(kp, u, t, b)) >= 0) {
				int slot = KPLAN_PARTIAL(kp, f);
				mg_uses_add(u, t, slot, mark);
				mg_view_add(u, t, b, slot);
			}
		}
		if (!runs || !out_of_core)
			continue;
		for (int i = 0; i < k->nin; i++)
			if (u->io[KPLAN_PARTIAL(kp, k->in[i])] == MG_IN)
				mg_uses_add(u, t, KPLAN_PARTIAL(kp, k->in[i]), mark);
		if (u->io[KPLAN_PARTIAL(kp, t)] == MG_OUT)
			mg_uses_add(u, t, KPLAN_PARTIAL(kp, t), mark);
		for (int i = 0; k->rows >= 0 && i < ia->ncons[t]; i++) {
			int c = ia->cons[t][i];
			if (ia->tasks[c].kind == IA_FUSED && u->io[KPLAN_PARTIAL(kp, c)] == MG_OUT)
				mg_uses_add(u, t, KPLAN_PARTIAL(kp, c), mark);
		}
	}
	free(mark);
	free(blocked);
}

static void mg_uses_free(MgUses *u, int ntasks)
{
	for (int t = 0; t < ntasks; t++) {
		free(u->use[t]);
		if (u->view)
			free(u->view[t]);
	}
	free(u->view);
	free(u->nview);
	free(u->anc);
	free(u->fin);
	free(u->use);
	free(u->nuse);
	free(u->bytes);
	free(u->io);
	free(u->begin);
}

static int mg_edge_cmp(const void *x, const void *y)
{
	const MgEdge *a = x, *b = y;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return (a->to > b->to) - (a->to < b->to);
}

/* The data flow plus the memory edges, each once, as successor lists. */
static void mg_finish_edges(MgPlan *P)
{
	Memgraph *mg = P->mg;
	const KplanProgram *kp = P->kp;
	int nn = mg->ntasks + mg->nops, flow = 0;
	for (int t = 0; t < mg->ntasks; t++)
		for (int i = 0; i < kp->tasks[t].nsucc; i++) {
			mg_edge(P, t, kp->tasks[t].succ[i]);
			flow++;
		}
	if (P->nedges > 1) /* (no edges: no array, and qsort's must not be NULL) */
		qsort(P->edges, (size_t)P->nedges, sizeof *P->edges, mg_edge_cmp);
	mg->npred = xcalloc((size_t)nn + 1, sizeof *mg->npred);
	mg->nsucc = xcalloc((size_t)nn + 1, sizeof *mg->nsucc);
	mg->succ = xcalloc((size_t)nn + 1, sizeof *mg->succ);
	int unique = 0;
	for (int e = 0; e < P->nedges; e++) {
		if (e > 0 && mg_edge_cmp(&P->edges[e], &P->edges[e - 1]) == 0)
			continue;
		P->edges[unique++] = P->edges[e];
	}
	for (int e = 0; e < unique; e++) {
		mg->nsucc[P->edges[e].from]++;
		mg->npred[P->edges[e].to]++;
	}
	for (int v = 0; v < nn; v++)
		mg->succ[v] = xcalloc((size_t)mg->nsucc[v] + 1, sizeof *mg->succ[v]);
	int *fill = xcalloc((size_t)nn + 1, sizeof *fill);
	for (int e = 0; e < unique; e++)
		mg->succ[P->edges[e].from][fill[P->edges[e].from]++] = P->edges[e].to;
	free(fill);
	mg->nextra = unique - flow;
}

/* A memory node's priority and device: its most urgent successor's. */
static void mg_node_info(Memgraph *mg, int v, bool *done)
{
	if (done[v])
		return;
	done[v] = true;
	mg->priority[v] = 0;
	mg->device[v] = 0;
	bool any = false;
	for (int i = 0; i < mg->nsucc[v]; i++) {
		int u = mg->succ[v][i];
		mg_node_info(mg, u, done);
		if (!any || mg->priority[u] > mg->priority[v]) {
			mg->priority[v] = mg->priority[u];
			mg->device[v] = mg->device[u];
			any = true;
		}
	}
}

static void mg_finish_info(Memgraph *mg, const IaGraph *ia)
{
	int nn = mg->ntasks + mg->nops;
	mg->priority = xcalloc((size_t)nn + 1, sizeof *mg->priority);
	mg->device = xcalloc((size_t)nn + 1, sizeof *mg->device);
	bool *done = xcalloc((size_t)nn + 1, sizeof *done);
	for (int t = 0; t < mg->ntasks; t++) {
		mg->priority[t] = ia->tasks[t].priority;
		mg->device[t] = ia->tasks[t].device < 0 ? 0 : ia->tasks[t].device;
		done[t] = true;
	}
	for (int v = mg->ntasks; v < nn; v++)
		mg_node_info(mg, v, done);
	free(done);
}

static void mg_plan_free(MgPlan *P)
{
	for (int b = 0; b < P->mg->nbufs; b++) {
		free(P->st[b].uses);
		free(P->st[b].users);
	}
	for (int d = 0; d < P->mg->ndomains; d++)
		free(P->arenas[d].seg);
	free(P->deps);
	free(P->arenas);
	free(P->st);
	free(P->edges);
	free(P->ahead_mine);
}

/* One planning attempt in one of the two linear orders (results: depth
 * first from the results, else from the leaves); false (fail_task set)
 * when some step finds no room. */
static bool mg_attempt_in(const KplanProgram *kp, const MgUses *u, int64_t budget, bool results, Memgraph *mg,
                          int *fail_task)
{
	MgPlan P;
	mg_init(&P, kp, u, mg, budget, results);
	int *mine = xcalloc((size_t)mg->nbufs + 1, sizeof *mine);
	bool ok = true;
	int ahead = 0;
	/* a buffer no task uses is not planned (mg_init: bytes 0) */
	for (int i = 0; i < mg->ntasks && ok; i++) {
		ok = mg_step(&P, i, mine);
		if (ahead <= i)
			ahead = i + 1;
		if (ok)
			mg_lookahead(&P, &ahead);
	}
	free(mine);
	*fail_task = P.fail_task;
	if (ok) {
		for (int d = 0; d < mg->ndomains; d++)
			mg->domains[d].arena = P.arenas[d].top;
		mg_finish_edges(&P);
		mg_finish_info(mg, kp->ia);
	}
	mg_plan_free(&P);
	return ok;
}

/* The bytes a plan moves to and from files: what its budget costs. */
static int64_t mg_moved(const Memgraph *mg)
{
	int64_t moved = 0;
	for (int d = 0; d < mg->ndomains; d++)
		moved += mg->domains[d].offloaded + mg->domains[d].reloaded + mg->domains[d].read;
	return moved;
}

/* A plan in each linear order, the one that moves fewer bytes kept (on
 * a tie, the order from the results): neither order wins everywhere.
 * From the results, W5 under a budget reads X once instead of twice;
 * from the leaves, attention at its smallest budget offloads 1 GB
 * instead of 2. False when neither order finds room. */
static bool mg_attempt(const KplanProgram *kp, const MgUses *u, int64_t budget, Memgraph *mg, int *fail_task)
{
	Memgraph other;
	int other_fail;
	bool ok = mg_attempt_in(kp, u, budget, true, mg, fail_task);
	bool other_ok = mg_attempt_in(kp, u, budget, false, &other, &other_fail);
	if (other_ok && (!ok || mg_moved(&other) < mg_moved(mg))) {
		memgraph_free(mg);
		*mg = other;
		return true;
	}
	memgraph_free(&other);
	return ok;
}

/* The bytes of task t's planned buffers together, in the domain where
 * they are the most. */
static int64_t mg_task_need(const MgUses *u, int t)
{
	int64_t most = 0;
	for (int d = 0; d < u->ndomains; d++) {
		int64_t need = 0;
		for (int i = 0; i < u->nuse[t]; i++)
			if (u->use[t][i] / u->base == d)
				need += mg_room(u->bytes[u->use[t][i]]);
		most = need > most ? need : most;
	}
	return most;
}

/* The smallest budget in [lo, hi] the planner succeeds with, hi known to
 * work (bisection, to the byte: a few dozen plans). */
static int64_t mg_smallest_budget(const KplanProgram *kp, const MgUses *u, int64_t lo, int64_t hi)
{
	Memgraph tmp;
	int fail;
	if (lo > hi)
		lo = hi;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		bool ok = mg_attempt(kp, u, mid, &tmp, &fail);
		memgraph_free(&tmp);
		if (ok)
			hi = mid;
		else
			lo = mid + 1;
	}
	return hi;
}

/* memgraph_build with the uses worked out. */
static bool mg_plan_or_explain(const KplanProgram *kp, const MgUses *u, int64_t budget, Memgraph *mg, char *err,
                               size_t errlen)
{
	int fail = -1;
	if (mg_attempt(kp, u, budget, mg, &fail))
		return true;
	memgraph_free(mg);
	/* what works: at least every task's own need; the unbounded arena always */
	int64_t need = 0;
	int needy = fail;
	for (int t = 0; t < kp->ia->ntasks; t++)
		if (mg_task_need(u, t) > need) {
			need = mg_task_need(u, t);
			if (need > budget)
				needy = t;
		}
	Memgraph whole;
	int ignored;
	TRAC_ASSERT(mg_attempt(kp, u, 0, &whole, &ignored));
	int64_t hi = need;
	for (int d = 0; d < whole.ndomains; d++)
		hi = whole.domains[d].arena > hi ? whole.domains[d].arena : hi;
	memgraph_free(&whole);
	/* the unbounded arena's size works as a budget, but make sure */
	for (bool ok = false; !ok; hi += hi / 2 + 64) {
		ok = mg_attempt(kp, u, hi, &whole, &ignored);
		memgraph_free(&whole);
		if (ok)
			break;
	}
	int64_t smallest = mg_smallest_budget(kp, u, need > budget ? need : budget + 1, hi);
	const IaTask *k = &kp->ia->tasks[needy];
	const char *name = kp->g->nodes[k->node].name;
	if (mg_task_need(u, needy) > budget)
		snprintf(err, errlen,
		         "--memory=%" PRId64 " is too small: task #%d (a block of %s) uses %" PRId64
		         " bytes of buffers at once; the smallest budget that works is %" PRId64 " bytes",
		         budget, needy, name, mg_task_need(u, needy), smallest);
	else
		snprintf(err, errlen,
		         "--memory=%" PRId64 " is too small: task #%d (a block of %s) finds no contiguous room for "
		         "its buffers; the smallest budget that works is %" PRId64 " bytes",
		         budget, needy, name, smallest);
	return false;
}

bool memgraph_build(const KplanProgram *kp, int64_t budget, Memgraph *mg, char *err, size_t errlen)
{
	MgUses u;
	mg_uses_build(kp, budget > 0, &u);
	bool ok = mg_plan_or_explain(kp, &u, budget, mg, err, errlen);
	bool any = false;
	for (int t = 0; u.view && t < kp->ia->ntasks && !any; t++)
		any = u.nview[t] > 0;
	if (ok && any) { /* the views go with the plan */
		mg->views = u.view;
		mg->nviews = u.nview;
		u.view = NULL;
		u.nview = NULL;
	}
	mg_uses_free(&u, kp->ia->ntasks);
	return ok;
}

bool memgraph_fits(const KplanProgram *kp, int64_t budget)
{
	MgUses u;
	Memgraph mg;
	int fail;
	mg_uses_build(kp, budget > 0, &u);
	bool ok = mg_attempt(kp, &u, budget, &mg, &fail);
	memgraph_free(&mg);
	mg_uses_free(&u, kp->ia->ntasks);
	return ok;
}

int64_t memgraph_largest_need(const KplanProgram *kp)
{
	MgUses u;
	mg_uses_build(kp, true, &u);
	int64_t most = 0;
	for (int t = 0; t < kp->ia->ntasks; t++)
		if (mg_task_need(&u, t) > most)
			most = mg_task_need(&u, t);
	mg_uses_free(&u, kp->ia->ntasks);
	return most;
}

void memgraph_free(Memgraph *mg)
{
	int nn = mg->ntasks + mg->nops;
	if (mg->succ)
		for (int v = 0; v < nn; v++)
			free(mg->succ[v]);
	free(mg->succ);
	free(mg->nsucc);
	free(mg->npred);
	free(mg->ops);
	free(mg->bufs);
	free(mg->domains);
	free(mg->order);
	free(mg->priority);
	free(mg->device);
	for (int r = 0; r < mg->nres; r++)
		free(mg->res[r].users);
	free(mg->res);
	for (int t = 0; mg->views && t < mg->ntasks; t++)
		free(mg->views[t]);
	free(mg->views);
	free(mg->nviews);
	memset(mg, 0, sizeof *mg);
}

/* ---- the simulated run ------------------------------------------------------------- */

/* How long node v takes on its device. */
static double mg_node_time(const Memgraph *mg, const IaGraph *ia, const SimModel *m, int v)
{
	if (v < mg->ntasks)
		return sim_task_time(&ia->tasks[v], m);
	const MgOp *op = &mg->ops[v - mg->ntasks];
	return memgraph_moves(op->kind) ? (double)op->bytes / m->spill_bw : 0;
}

int64_t memgraph_arena_bytes(const Memgraph *mg, int b)
{
	return mg_in_file(mg->bufs[b].io) ? 0 : mg->bufs[b].bytes;
}

int64_t memgraph_arena_offset(const Memgraph *mg, int b)
{
	return memgraph_arena_bytes(mg, b) > 0 ? mg->bufs[b].offset : 0;
}

int memgraph_op_buffer(const Memgraph *mg, const KplanProgram *kp, const MgOp *op)
{
	return mg_in_file(mg->bufs[op->buf].io) ? kplan_buffer_node(kp, op->buf) : op->buf;
}

bool memgraph_moves(MgKind k)
{
	return k == MG_OFFLOAD || k == MG_RELOAD || k == MG_READ || k == MG_WRITE;
}

/* The simulated run's queues (IdHeap), per device: the nodes whose
 * predecessors have all ended wait by when their inputs are there, then
 * are ready by priority, ties the lower id; so a run is O(n log n)
 * however many nodes wait at once (a long row group's inputs all do). */
typedef struct MgSimRun {
	const Memgraph *mg;
	const double *ready; /* per node: when its inputs are on its device */
} MgSimRun;

static bool mg_sim_before_ready(const void *ctx, int a, int b)
{
	const double *ready = ((const MgSimRun *)ctx)->ready;
	return ready[a] < ready[b] || (ready[a] == ready[b] && a < b);
}

static bool mg_sim_before_priority(const void *ctx, int a, int b)
{
	const double *pri = ((const MgSimRun *)ctx)->mg->priority;
	return pri[a] > pri[b] || (pri[a] == pri[b] && a < b);
}

double memgraph_simulate(const Memgraph *mg, const IaGraph *ia, const SimModel *m, double *io)
{
	int nn = mg->ntasks + mg->nops, nd = ia->ndevices > 0 ? ia->ndevices : 1;
	int *left = xcalloc((size_t)nn + 1, sizeof *left);
	double *ready = xcalloc((size_t)nn + 1, sizeof *ready), *end = xcalloc((size_t)nn + 1, sizeof *end);
	int *running = xcalloc((size_t)nd, sizeof *running);
	MgSimRun s = {mg, ready};
	IdHeap *wait = xcalloc((size_t)nd, sizeof *wait), *run = xcalloc((size_t)nd, sizeof *run);
	int done = 0;
	double now = 0, last = 0;
	*io = 0;
	for (int d = 0; d < nd; d++) {
		running[d] = -1;
		wait[d] = (IdHeap){.before = mg_sim_before_ready, .ctx = &s};
		run[d] = (IdHeap){.before = mg_sim_before_priority, .ctx = &s};
	}
	for (int v = 0; v < nn; v++)
		if ((left[v] = mg->npred[v]) == 0)
			id_heap_push(&wait[mg->device[v] % nd], v);
	while (done < nn) {
		/* start what can start now, device by device, best priority first */
		for (int d = 0; d < nd; d++) {
			while (wait[d].n && ready[wait[d].id[0]] <= now)
				id_heap_push(&run[d], id_heap_pop(&wait[d]));
			if (running[d] >= 0 || !run[d].n)
				continue;
			int v = running[d] = id_heap_pop(&run[d]);
			double took = mg_node_time(mg, ia, m, v);
			end[v] = now + took;
			if (v >= mg->ntasks)
				*io += took;
		}
		/* the next moment: a task ends, or a waiting one becomes ready */
		double next = -1;
		for (int d = 0; d < nd; d++) {
			if (running[d] >= 0 && (next < 0 || end[running[d]] < next))
				next = end[running[d]];
			if (wait[d].n && (next < 0 || ready[wait[d].id[0]] < next))
				next = ready[wait[d].id[0]];
		}
		TRAC_ASSERT(next >= 0);
		now = next;
		for (int d = 0; d < nd; d++) {
			int u = running[d];
			if (u < 0 || end[u] > now)
				continue;
			running[d] = -1;
			done++;
			last = end[u] > last ? end[u] : last;
			for (int i = 0; i < mg->nsucc[u]; i++) {
				int v = mg->succ[u][i];
				double at = end[u];
				if (u < mg->ntasks && v < mg->ntasks && mg->device[u] % nd != mg->device[v] % nd)
					at += sim_transfer_time(ia->tasks[u].out_bytes, m);
				if (at > ready[v])
					ready[v] = at;
				if (--left[v] == 0)
					id_heap_push(&wait[mg->device[v] % nd], v);
			}
		}
	}
	for (int d = 0; d < nd; d++) {
		id_heap_free(&wait[d]);
		id_heap_free(&run[d]);
	}
	free(wait);
	free(run);
	free(left);
	free(ready);
	free(end);
	free(running);
	return last;
}

/* "PREFIX %d (CPU workers): budget N bytes" (or "unbounded"; "(GPU %d)"
 * for a GPU's). */
static void mg_domain_budget(const Memgraph *mg, const MgDomain *dm, const char *prefix, int d, FILE *out)
{
	if (mg->gpus)
		fprintf(out, "%s %d (GPU %d): budget ", prefix, d, d);
	else
		fprintf(out, "%s %d (CPU workers): budget ", prefix, d);
	if (dm->budget > 0)
		fprintf(out, "%" PRId64 " bytes", dm->budget);
	else
		fputs("unbounded", out);
}

void memgraph_plan_lines(const Memgraph *mg, const IaGraph *ia, const SimModel *m, FILE *out)
{
	double io;
	double span = memgraph_simulate(mg, ia, m, &io);
	for (int d = 0; d < mg->ndomains; d++) {
		const MgDomain *dm = &mg->domains[d];
		mg_domain_budget(mg, dm, "memory domain", d, out);
		fprintf(out, ", arena %" PRId64 " bytes (every intermediate at a planned offset), spill file %" PRId64
		        " bytes\n  offloaded %" PRId64 " bytes in %d blocks, reloaded %" PRId64 " bytes in %d blocks\n",
		        dm->arena, dm->spill, dm->offloaded, dm->offloads, dm->reloaded, dm->reloads);
		if (dm->reads || dm->writes)
			fprintf(out, "  out of core: read %" PRId64 " bytes of inputs in %d blocks, wrote %" PRId64
			        " bytes of outputs in %d blocks\n", dm->read, dm->reads, dm->written, dm->writes);
	}
	fprintf(out, "makespan with the memory plan: %.3g ms (%.3g ms of it moving file bytes, at %.3g GB/s)\n",
	        span * 1e3, io * 1e3, m->spill_bw / 1e9);
}

void memgraph_plan_json(const Memgraph *mg, const IaGraph *ia, const SimModel *m, FILE *out)
{
	double io;
	double span = memgraph_simulate(mg, ia, m, &io);
	fprintf(out, "{\"makespan_s\": %.17g, \"spill_io_s\": %.17g, \"spill_bandwidth\": %.17g, "
	        "\"memory_nodes\": %d, \"extra_edges\": %d, \"domains\": [", span, io, m->spill_bw, mg->nops,
	        mg->nextra);
	for (int d = 0; d < mg->ndomains; d++) {
		const MgDomain *dm = &mg->domains[d];
		fprintf(out, "%s\n    {\"domain\": %d, \"budget\": %" PRId64 ", \"arena\": %" PRId64
		        ", \"spill\": %" PRId64 ", \"offloaded\": %" PRId64 ", \"offloads\": %d, \"reloaded\": %" PRId64
		        ", \"reloads\": %d, \"read\": %" PRId64 ", \"reads\": %d, \"written\": %" PRId64
		        ", \"writes\": %d}", d ? "," : "", d, dm->budget, dm->arena, dm->spill, dm->offloaded,
		        dm->offloads, dm->reloaded, dm->reloads, dm->read, dm->reads, dm->written, dm->writes);
	}
	fputs("\n  ]}", out);
}

/* ---- --emit=memgraph ------------------------------------------------------------------- */

/* A buffer's name: its tensor's, "NAME.part#T" for a partial block,
 * "NAME.block#T" for an input, output or intermediate's block (task T's). */
static void mg_buf_name(const Memgraph *mg, const KplanProgram *kp, int b, char *buf, size_t n)
{
	if (kp->ia->ngpus > 0) { /* GPU q's copy of buffer b % nbufs: NAME@gpuQ */
		int q = b / kp->nbufs;
		b %= kp->nbufs;
		const char *tensor = kp->g->nodes[kplan_buffer_node(kp, b)].name;
		if (b < kp->g->nnodes)
			snprintf(buf, n, "%s@gpu%d", tensor, q);
		else
			snprintf(buf, n, "%s.%s#%d@gpu%d", tensor, mg->bufs[b].io == MG_ARENA ? "part" : "block",
			         b - kp->g->nnodes, q);
		return;
	}
	const char *tensor = kp->g->nodes[kplan_buffer_node(kp, b)].name;
	if (b < kp->g->nnodes)
		snprintf(buf, n, "%s", tensor);
	else
		snprintf(buf, n, "%s.%s#%d", tensor, mg->bufs[b].io == MG_ARENA ? "part" : "block", b - kp->g->nnodes);
}

/* The predecessors of every node, for dumps: pred[v] lists them, in
 * increasing order (the successor lists are walked in node order). */
typedef struct MgPreds {
	int *start;  /* pred[v] is list[start[v] .. start[v + 1]) */
	int *list;
} MgPreds;

static void mg_preds(const Memgraph *mg, MgPreds *p)
{
	int nn = mg->ntasks + mg->nops;
	p->start = xcalloc((size_t)nn + 2, sizeof *p->start);
	for (int v = 0; v < nn; v++)
		for (int i = 0; i < mg->nsucc[v]; i++)
			p->start[mg->succ[v][i] + 2]++;
	for (int v = 0; v < nn; v++)
		p->start[v + 2] += p->start[v + 1];
	p->list = xcalloc((size_t)p->start[nn + 1] + 1, sizeof *p->list);
	for (int v = 0; v < nn; v++)
		for (int i = 0; i < mg->nsucc[v]; i++)
			p->list[p->start[mg->succ[v][i] + 1]++] = v;
}

/* "; after %a %b" for node v's predecessors from first on (or nothing). */
static void mg_dump_after(const MgPreds *p, int v, int first, FILE *out)
{
	int shown = 0;
	for (int i = p->start[v]; i < p->start[v + 1]; i++)
		if (p->list[i] >= first)
			fprintf(out, "%s%%%d", shown++ ? " " : "; after ", p->list[i]);
}

static void mg_dump_op(const Memgraph *mg, const KplanProgram *kp, const MgPreds *preds, int node, FILE *out)
{
	const MgOp *op = &mg->ops[node - mg->ntasks];
	char name[96];
	mg_buf_name(mg, kp, op->buf, name, sizeof name);
	fprintf(out, "      %%%d %-7s %-16s", node, memgraph_kind_name(op->kind), name);
	switch (op->kind) {
	case MG_ALLOC: fprintf(out, " at %" PRId64 ", %" PRId64 " bytes", op->offset, op->bytes); break;
	case MG_FREE: fprintf(out, " at %" PRId64, op->offset); break;
	case MG_OFFLOAD:
		fprintf(out, " %" PRId64 " bytes from %" PRId64 " to spill %" PRId64, op->bytes, op->offset, op->spill);
		break;
	case MG_RELOAD:
		fprintf(out, " %" PRId64 " bytes from spill %" PRId64 " to %" PRId64, op->bytes, op->spill, op->offset);
		break;
	case MG_READ:
	case MG_CLAIM:
		fprintf(out, " %" PRId64 " bytes from byte %" PRId64 " of the file, room at %" PRId64, op->bytes,
		        op->spill, op->offset);
		break;
	case MG_DROP:
	case MG_WRITE: fprintf(out, " room at %" PRId64, op->offset); break;
	}
	mg_dump_after(preds, node, 0, out); /* all it waits for */
	fputc('\n', out);
}

void memgraph_dump(const Memgraph *mg, const KplanProgram *kp, FILE *out)
{
	fprintf(out, "# memgraph: %d tasks, %d memory nodes, %d edges beyond the data flow\n", mg->ntasks, mg->nops,
	        mg->nextra);
	fputs("# %N is a task (numbered as in --emit=taskgraph) or a memory node (after them); a task's\n"
	      "# 'after' names the memory nodes it waits for beyond its inputs, a memory node's all it waits for\n",
	      out);
	for (int d = 0; d < mg->ndomains; d++) {
		const MgDomain *dm = &mg->domains[d];
		mg_domain_budget(mg, dm, "domain", d, out);
		fprintf(out, ", arena %" PRId64 " bytes, spill %" PRId64 " bytes; offloaded %" PRId64
		        " bytes (%d), reloaded %" PRId64 " bytes (%d)",
		        dm->arena, dm->spill, dm->offloaded, dm->offloads, dm->reloaded, dm->reloads);
		if (dm->reads || dm->writes)
			fprintf(out, "; read %" PRId64 " bytes (%d), written %" PRId64 " bytes (%d)", dm->read, dm->reads,
			        dm->written, dm->writes);
		fputc('\n', out);
	}
	fputs("buffers:\n", out);
	for (int b = 0; b < mg->nbufs; b++) {
		if (mg->bufs[b].bytes == 0)
			continue;
		char name[96];
		mg_buf_name(mg, kp, b, name, sizeof name);
		static const char *const what[] = {"", ", input block", ", output block", ", intermediate's block"};
		const char *kind = what[mg->bufs[b].io];
		if (mg->gpus && mg->bufs[b].io == MG_BLOCK) { /* (on GPUs, inputs and outputs too) */
			const TraNode *n = &kp->g->nodes[kplan_buffer_node(kp, b % kp->nbufs)];
			kind = n->kind == TRA_NODE_INPUT ? ", input's block" : n->is_output ? ", output's block" : kind;
		}
		fprintf(out, "  %-16s %10" PRId64 " bytes at %" PRId64 ", %d uses%s%s\n", name, mg->bufs[b].bytes,
		        mg->bufs[b].offset, mg->bufs[b].nuses, kind,
		        mg->bufs[b].spill >= 0 ? ", offloaded" : "");
	}
	fputs("steps (the linear order planned; memory nodes under the step that made them):\n", out);
	MgPreds preds;
	mg_preds(mg, &preds);
	int op = 0;
	for (int i = 0; i < mg->ntasks; i++) {
		int t = mg->order[i];
		const IaTask *k = &kp->ia->tasks[t];
		fprintf(out, "  %4d  %%%d %s %s [", i, t, ia_kind_name(k->kind), kp->g->nodes[k->node].name);
		for (int d = 0; d < k->ndim; d++)
			fprintf(out, "%s%" PRId64 ":%" PRId64, d ? ", " : "", k->lo[d], k->hi[d]);
		fputs("]", out);
		mg_dump_after(&preds, t, mg->ntasks, out); /* the memory nodes it waits for */
		fputc('\n', out);
		for (; op < mg->nops && mg->ops[op].pos <= i; op++)
			mg_dump_op(mg, kp, &preds, mg->ntasks + op, out);
	}
	for (; op < mg->nops; op++)
		mg_dump_op(mg, kp, &preds, mg->ntasks + op, out);
	free(preds.start);
	free(preds.list);
}
