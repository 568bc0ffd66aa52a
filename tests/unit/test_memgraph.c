/* test_memgraph.c: Check tests for the memory planner
 * (compiler/memgraph.c) on hand-built task tables: a region freed is
 * reused behind a free node, the earliest freed of two fitting regions
 * wins, Belady's choice of victim under a budget (offload, reload, the
 * edges between them), a budget too small for a task is an error naming
 * it with the smallest budget that works, and every memgraph is acyclic
 * with every memory node tied into it; and, on hundreds of random task
 * graphs under random budgets, that every plan is safe under any order
 * its edges allow (check_safe says what that means). Out of core (under
 * a budget), input blocks are read and dropped, output blocks claimed and
 * written, each around its users, and an input block evicted is dropped
 * and read again, never offloaded; an intermediate is kept block by block
 * (a buffer per block, a view per task that touches one) where each of
 * its readers reads within one block.
 *
 * A fixture is a chain of tasks (each the only successor of the one
 * before, so the linear order is the chain's) and the buffers each task
 * uses; every buffer is 128 bytes (a multiple of the arena's 64-byte
 * alignment, so sizes add up exactly) unless a test says otherwise.
 */
#include "unit.h"
#include "memgraph.h"

#define FIX_MAX 32

typedef struct Fix {
	TraNode nodes[FIX_MAX];
	TraGraph g;
	IaTask tasks[FIX_MAX];
	IaGraph ia;
	KplanTask kt[FIX_MAX];
	int succ[FIX_MAX][FIX_MAX];
	int use[FIX_MAX][FIX_MAX];
	int64_t pooled[2 * FIX_MAX];
	KplanProgram kp;
} Fix;

static const char *const fix_names[16] = {"A", "B", "C", "D", "E", "F", "G", "H",
                                          "I", "J", "K", "L", "M", "N", "O", "P"};

/* A chain of ntasks tasks over nbufs buffers of 128 bytes; uses[t] is
 * task t's buffers as a string of letters ("AB": buffers 0 and 1). */
static void fix_chain(Fix *f, int nbufs, int ntasks, const char *const *uses)
{
	memset(f, 0, sizeof *f);
	for (int b = 0; b < nbufs; b++)
		f->nodes[b].name = fix_names[b];
	f->g.nodes = f->nodes;
	f->g.nnodes = nbufs;
	for (int t = 0; t < ntasks; t++) {
		f->tasks[t] = (IaTask){.kind = IA_JOIN, .node = uses[t][0] - 'A', .rows = -1, .priority = ntasks - t};
		f->succ[t][0] = t + 1;
		KplanTask *k = &f->kt[t];
		k->npred = t > 0;
		k->nsucc = t + 1 < ntasks;
		k->succ = f->succ[t];
		k->use = f->use[t];
		for (const char *c = uses[t]; *c; c++)
			k->use[k->nuse++] = *c - 'A';
	}
	f->ia.g = &f->g;
	f->ia.tasks = f->tasks;
	f->ia.ntasks = ntasks;
	for (int b = 0; b < nbufs; b++)
		f->pooled[b] = 128;
	f->kp.g = &f->g;
	f->kp.ia = &f->ia;
	f->kp.tasks = f->kt;
	f->kp.nbufs = nbufs + ntasks;
	f->kp.pooled = f->pooled;
}

/* A random task graph from seed: up to 24 tasks, each reading up to three
 * earlier ones, and using one to three of up to 12 buffers of 64 to 447
 * bytes. */
static void fix_random(Fix *f, uint32_t seed)
{
	uint32_t s = seed * 2654435761u + 1;
#define FIX_RAND(n) ((s = s * 1664525u + 1013904223u), (int)((s >> 8) % (uint32_t)(n)))
	memset(f, 0, sizeof *f);
	int nt = 6 + FIX_RAND(19), nb = 3 + FIX_RAND(10);
	for (int b = 0; b < nb; b++) {
		f->nodes[b].name = fix_names[b];
		f->pooled[b] = 64 + FIX_RAND(384);
	}
	f->g.nodes = f->nodes;
	f->g.nnodes = nb;
	for (int t = 0; t < nt; t++) {
		KplanTask *k = &f->kt[t];
		f->tasks[t] = (IaTask){.kind = IA_JOIN, .rows = -1, .priority = FIX_RAND(100), .device = FIX_RAND(3)};
		k->succ = f->succ[t];
		k->use = f->use[t];
		for (int u = 1 + FIX_RAND(3); u > 0; u--) {
			int b = FIX_RAND(nb), seen = 0;
			for (int i = 0; i < k->nuse; i++)
				seen |= k->use[i] == b;
			if (!seen)
				k->use[k->nuse++] = b;
		}
		f->tasks[t].node = k->use[0];
		for (int p = 0; p < t && k->npred < 3; p++)
			if (FIX_RAND(5) == 0) {
				f->succ[p][f->kt[p].nsucc++] = t;
				k->npred++;
			}
	}
#undef FIX_RAND
	f->ia.g = &f->g;
	f->ia.tasks = f->tasks;
	f->ia.ntasks = nt;
	f->ia.ndevices = 3;
	f->kp.g = &f->g;
	f->kp.ia = &f->ia;
	f->kp.tasks = f->kt;
	f->kp.nbufs = nb + nt;
	f->kp.pooled = f->pooled;
}

/* The memory nodes of kind k on buffer b. */
static int count_ops(const Memgraph *mg, MgKind k, int b)
{
	int n = 0;
	for (int i = 0; i < mg->nops; i++)
		n += mg->ops[i].kind == k && mg->ops[i].buf == b;
	return n;
}

/* The memory node of kind k on buffer b (the first), or -1. */
static int find_op(const Memgraph *mg, MgKind k, int b)
{
	for (int i = 0; i < mg->nops; i++)
		if (mg->ops[i].kind == k && mg->ops[i].buf == b)
			return mg->ntasks + i;
	return -1;
}

static bool has_edge(const Memgraph *mg, int from, int to)
{
	for (int i = 0; i < mg->nsucc[from]; i++)
		if (mg->succ[from][i] == to)
			return true;
	return false;
}

/* Every node is reached by a topological sort (no cycle), and npred
 * matches the successor lists. */
static void check_acyclic(const Memgraph *mg)
{
	int nn = mg->ntasks + mg->nops, done = 0, top = 0;
	int *left = calloc((size_t)nn + 1, sizeof *left), *stack = calloc((size_t)nn + 1, sizeof *stack);
	for (int v = 0; v < nn; v++)
		for (int i = 0; i < mg->nsucc[v]; i++)
			left[mg->succ[v][i]]++;
	for (int v = 0; v < nn; v++) {
		ck_assert_int_eq(left[v], mg->npred[v]);
		if (left[v] == 0)
			stack[top++] = v;
	}
	while (top > 0) {
		int v = stack[--top];
		done++;
		for (int i = 0; i < mg->nsucc[v]; i++)
			if (--left[mg->succ[v][i]] == 0)
				stack[top++] = mg->succ[v][i];
	}
	ck_assert_int_eq(done, nn);
	free(left);
	free(stack);
}

/* Whether the plan is safe whatever order its edges allow: every use of
 * a buffer is in exactly one of its residencies; a buffer's first
 * residency is where the runtime puts it (bufs[b].offset), each later
 * one begins with a reload to its offset after every user of the one
 * before; and any two residencies whose rooms overlap in the arena, of
 * one buffer or two, are ordered: every user of one reaches (through the
 * edges) every user of the other. */
static void check_safe(const Memgraph *mg, const char *what)
{
	int nn = mg->ntasks + mg->nops;
	bool *reach = calloc((size_t)nn * (size_t)nn, sizeof *reach);
	int *stack = calloc((size_t)nn + 1, sizeof *stack);
	for (int v = 0; v < nn; v++) {
		int top = 0;
		stack[top++] = v;
		while (top > 0) {
			int u = stack[--top];
			for (int i = 0; i < mg->nsucc[u]; i++)
				if (!reach[(size_t)v * nn + mg->succ[u][i]]) {
					reach[(size_t)v * nn + mg->succ[u][i]] = true;
					stack[top++] = mg->succ[u][i];
				}
		}
	}
	for (int b = 0; b < mg->nbufs; b++) {
		int uses = 0, prev = -1;
		for (int r = 0; r < mg->nres; r++) {
			const MgRes *R = &mg->res[r];
			if (R->buf != b)
				continue;
			uses += R->nusers;
			if (prev < 0) {
				ck_assert_msg(R->offset == mg->bufs[b].offset, "%s: buffer %d starts at %lld, runs at %lld",
				              what, b, (long long)R->offset, (long long)mg->bufs[b].offset);
			} else {
				ck_assert_msg(R->start >= mg->ntasks, "%s: buffer %d comes back without a reload", what, b);
				const MgOp *op = &mg->ops[R->start - mg->ntasks];
				ck_assert_msg(op->kind == MG_RELOAD && op->buf == b && op->offset == R->offset,
				              "%s: buffer %d's residency at %lld does not begin with its reload", what, b,
				              (long long)R->offset);
				for (int i = 0; i < mg->res[prev].nusers; i++)
					ck_assert_msg(reach[(size_t)mg->res[prev].users[i] * nn + R->start],
					              "%s: buffer %d reloaded before a user of its last residency", what, b);
			}
			prev = r;
		}
		if (mg->bufs[b].bytes > 0)
			ck_assert_msg(uses == mg->bufs[b].nuses, "%s: buffer %d: %d uses in residencies of %d", what, b,
			              uses, mg->bufs[b].nuses);
	}
	for (int r1 = 0; r1 < mg->nres; r1++)
		for (int r2 = r1 + 1; r2 < mg->nres; r2++) {
			const MgRes *A = &mg->res[r1], *B = &mg->res[r2];
			if (A->offset >= B->offset + B->room || B->offset >= A->offset + A->room)
				continue;
			bool ab = true, ba = true;
			for (int i = 0; i < A->nusers; i++)
				for (int j = 0; j < B->nusers; j++) {
					ab = ab && reach[(size_t)A->users[i] * nn + B->users[j]];
					ba = ba && reach[(size_t)B->users[j] * nn + A->users[i]];
				}
			ck_assert_msg(ab || ba, "%s: buffers %d and %d share arena bytes at %lld and %lld, unordered", what,
			              A->buf, B->buf, (long long)A->offset, (long long)B->offset);
		}
	free(reach);
	free(stack);
}

START_TEST(reuse_after_free)
{
	/* A B -> B C -> C D: A is dead after task 1, and C takes its room */
	static const char *const uses[] = {"A", "AB", "BC", "CD"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 4, 4, uses);
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.domains[0].arena, 256);
	ck_assert_int_eq(mg.bufs[2].offset, mg.bufs[0].offset);
	int fr = find_op(&mg, MG_FREE, 0), al = find_op(&mg, MG_ALLOC, 2);
	ck_assert_int_ge(fr, 0);
	ck_assert_int_ge(al, 0);
	/* the free waits for A's users, the alloc for the free, C's users for the alloc */
	ck_assert(has_edge(&mg, 0, fr) && has_edge(&mg, 1, fr));
	ck_assert(has_edge(&mg, fr, al));
	ck_assert(has_edge(&mg, al, 2) && has_edge(&mg, al, 3));
	ck_assert_int_eq(mg.domains[0].offloads, 0);
	check_acyclic(&mg);
	memgraph_free(&mg);
}
END_TEST

/* Without a budget, room freed on another device, by work the task does
 * not wait for, is not reused: the arena grows instead, so that the two
 * devices' tasks need not wait for each other. Room freed by more urgent
 * work on the task's own device (which its worker runs first anyway), or
 * by the task's ancestors, is reused. */
START_TEST(unbounded_reuse_local)
{
	/* four independent tasks, each using its own buffer: A and B on
	 * device 0, C on 1, then D on 0 again */
	static const char *const uses[] = {"A", "B", "C", "D"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 4, 4, uses);
	for (int t = 0; t < 4; t++) {
		f.kt[t].npred = f.kt[t].nsucc = 0;
		f.tasks[t].device = t == 2;
	}
	f.ia.ndevices = 2;
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.bufs[1].offset, mg.bufs[0].offset); /* B after A, both on 0 */
	ck_assert_int_ne(mg.bufs[2].offset, mg.bufs[0].offset); /* C: device 1's own room */
	ck_assert_int_eq(mg.bufs[3].offset, mg.bufs[0].offset); /* D after B */
	ck_assert_int_eq(mg.domains[0].arena, 256);
	ck_assert(has_edge(&mg, find_op(&mg, MG_FREE, 0), find_op(&mg, MG_ALLOC, 1)));
	check_acyclic(&mg);
	check_safe(&mg, "local");
	memgraph_free(&mg);
	/* D more urgent than B, which its worker may run first: its own room */
	f.tasks[3].priority = 10;
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.bufs[1].offset, mg.bufs[0].offset);
	ck_assert(mg.bufs[3].offset != mg.bufs[0].offset && mg.bufs[3].offset != mg.bufs[2].offset);
	ck_assert_int_eq(mg.domains[0].arena, 384);
	check_safe(&mg, "urgent");
	memgraph_free(&mg);
	/* C reads A's task, so the order is B, A, C, D, and A's room costs C
	 * nothing though it runs on the other device; B's (task 1, less
	 * urgent than A's task) is not A's either */
	static int in2[] = {0};
	f.tasks[3].priority = 1;
	f.tasks[2].in = in2;
	f.tasks[2].nin = 1;
	f.succ[0][0] = 2;
	f.kt[0].nsucc = 1;
	f.kt[2].npred = 1;
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.bufs[2].offset, mg.bufs[0].offset);
	ck_assert_int_ne(mg.bufs[2].offset, mg.bufs[1].offset); /* B's, freed on 0: not C's */
	check_acyclic(&mg);
	check_safe(&mg, "implied");
	memgraph_free(&mg);
}
END_TEST

START_TEST(earliest_freed_wins)
{
	/* A and B side by side; A dies at step 1, B at step 2 (with D, 384
	 * bytes, which no freed room holds: lookahead stops there, so C is
	 * placed after step 2, when both rooms are free); C takes A's */
	static const char *const uses[] = {"AB", "A", "BD", "C", "C"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 4, 5, uses);
	f.pooled[3] = 384;
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.domains[0].arena, 640);
	ck_assert_int_eq(mg.bufs[2].offset, mg.bufs[0].offset);
	ck_assert(has_edge(&mg, find_op(&mg, MG_FREE, 0), find_op(&mg, MG_ALLOC, 2)));
	ck_assert_int_eq(find_op(&mg, MG_FREE, 1), -1); /* nothing reuses B's room: no free node */
	check_acyclic(&mg);
	memgraph_free(&mg);
}
END_TEST

START_TEST(belady_victim)
{
	/* budget 256: C needs room while A (next used at step 4) and B
	 * (step 3) are resident; Belady offloads A, used furthest ahead */
	static const char *const uses[] = {"A", "B", "C", "B", "A"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 3, 5, uses);
	ck_assert_msg(memgraph_build(&f.kp, 256, &mg, err, sizeof err), "%s", err);
	ck_assert_int_eq(count_ops(&mg, MG_OFFLOAD, 0), 1);
	ck_assert_int_eq(count_ops(&mg, MG_RELOAD, 0), 1);
	ck_assert_int_eq(count_ops(&mg, MG_OFFLOAD, 1), 0);
	ck_assert_int_le(mg.domains[0].arena, 256);
	ck_assert_int_eq(mg.domains[0].offloaded, 128);
	ck_assert_int_eq(mg.domains[0].reloaded, 128);
	ck_assert_int_eq(mg.domains[0].spill, 128);
	int off = find_op(&mg, MG_OFFLOAD, 0), re = find_op(&mg, MG_RELOAD, 0);
	ck_assert(has_edge(&mg, 0, off)); /* after A's user */
	ck_assert(has_edge(&mg, off, re));
	ck_assert(has_edge(&mg, re, 4)); /* before A's next user */
	/* C took A's room: C's users wait for the offload (through an alloc) */
	int al = find_op(&mg, MG_ALLOC, 2);
	ck_assert_int_ge(al, 0);
	ck_assert(has_edge(&mg, off, al) && has_edge(&mg, al, 2));
	check_acyclic(&mg);
	memgraph_free(&mg);
}
END_TEST

START_TEST(too_small)
{
	/* task 1 uses three buffers at once: 384 bytes */
	static const char *const uses[] = {"A", "ABC", "C"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 3, 3, uses);
	ck_assert(!memgraph_build(&f.kp, 383, &mg, err, sizeof err));
	ck_assert_msg(strstr(err, "task #1 (a block of A) uses 384 bytes") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "the smallest budget that works is 384 bytes") != NULL, "%s", err);
	ck_assert(memgraph_build(&f.kp, 384, &mg, err, sizeof err));
	ck_assert_int_eq(mg.domains[0].arena, 384);
	memgraph_free(&mg);
}
END_TEST

START_TEST(chains_under_budgets)
{
	/* every budget from the smallest that works up: acyclic, within the
	 * budget, and bytes reloaded never more than offloaded */
	static const char *const uses[] = {"A", "B", "AC", "BD", "CE", "DF", "EA", "FB", "AG", "BG", "G"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 7, 11, uses);
	int works = 0;
	for (int64_t budget = 256; budget <= 1024; budget += 64) {
		if (!memgraph_build(&f.kp, budget, &mg, err, sizeof err)) {
			ck_assert_msg(strstr(err, "the smallest budget that works is") != NULL, "%s", err);
			continue;
		}
		works++;
		ck_assert_int_le(mg.domains[0].arena, budget);
		ck_assert_int_le(mg.domains[0].reloaded, mg.domains[0].offloaded);
		check_acyclic(&mg);
		memgraph_free(&mg);
	}
	ck_assert_int_ge(works, 10);
}
END_TEST

START_TEST(aligned_offsets)
{
	/* odd sizes: every buffer still starts on a 64-byte boundary */
	static const char *const uses[] = {"AB", "BC", "CD", "D"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 4, 4, uses);
	f.pooled[0] = 100;
	f.pooled[1] = 4;
	f.pooled[2] = 65;
	f.pooled[3] = 200;
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	for (int b = 0; b < 4; b++)
		ck_assert_int_eq(mg.bufs[b].offset % 64, 0);
	ck_assert_int_eq(mg.domains[0].arena % 64, 0);
	memgraph_free(&mg);
}
END_TEST

START_TEST(random_graphs_safe)
{
	/* 400 random graphs, unbounded and under three budgets between the
	 * largest task's need and the unbounded arena */
	int plans = 0, offloading = 0, refused = 0;
	for (uint32_t seed = 1; seed <= 400; seed++) {
		Fix f;
		Memgraph mg;
		char err[256], what[64];
		fix_random(&f, seed);
		ck_assert_msg(memgraph_build(&f.kp, 0, &mg, err, sizeof err), "%s", err);
		snprintf(what, sizeof what, "seed %u unbounded", (unsigned)seed);
		check_acyclic(&mg);
		check_safe(&mg, what);
		ck_assert_int_eq(mg.domains[0].offloads, 0);
		int64_t whole = mg.domains[0].arena, need = 0;
		memgraph_free(&mg);
		for (int t = 0; t < f.ia.ntasks; t++) {
			int64_t n = 0;
			for (int i = 0; i < f.kt[t].nuse; i++)
				n += (f.pooled[f.kt[t].use[i]] + 63) / 64 * 64;
			need = n > need ? n : need;
		}
		for (int k = 0; k < 3; k++) {
			int64_t budget = need + (whole - need) * k / 3;
			snprintf(what, sizeof what, "seed %u budget %lld", (unsigned)seed, (long long)budget);
			if (!memgraph_build(&f.kp, budget, &mg, err, sizeof err)) {
				/* fragmentation: the budget that works is named, and works */
				const char *at = strstr(err, "the smallest budget that works is ");
				ck_assert_msg(at != NULL, "%s: %s", what, err);
				long long least = atoll(at + strlen("the smallest budget that works is "));
				ck_assert_msg(least > budget, "%s: %s", what, err);
				ck_assert_msg(memgraph_build(&f.kp, least, &mg, err, sizeof err), "%s: %s", what, err);
				refused++;
			}
			plans++;
			offloading += mg.domains[0].offloads > 0;
			check_acyclic(&mg);
			check_safe(&mg, what);
			ck_assert_int_le(mg.domains[0].arena, mg.domains[0].budget);
			ck_assert_int_eq(mg.domains[0].reloaded <= mg.domains[0].offloaded, 1);
			memgraph_free(&mg);
		}
	}
	printf("memgraph: %d budgeted plans of random graphs, %d with offloads, %d budgets refused\n", plans,
	       offloading, refused);
	ck_assert_int_gt(offloading, 100);
}
END_TEST

START_TEST(dump_readable)
{
	static const char *const uses[] = {"A", "B", "C", "B", "A"};
	Fix f;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 3, 5, uses);
	for (int t = 0; t < 5; t++) {
		static int64_t lo[1] = {0}, hi[1] = {10};
		f.tasks[t].ndim = 1;
		f.tasks[t].lo = lo;
		f.tasks[t].hi = hi;
	}
	ck_assert(memgraph_build(&f.kp, 256, &mg, err, sizeof err));
	UnitMem m;
	unit_mem_open(&m);
	memgraph_dump(&mg, &f.kp, m.f);
	const char *t = unit_mem_text(&m);
	ck_assert_ptr_nonnull(strstr(t, "domain 0 (CPU workers): budget 256 bytes"));
	ck_assert_ptr_nonnull(strstr(t, "offload A"));
	ck_assert_ptr_nonnull(strstr(t, "reload  A"));
	ck_assert_ptr_nonnull(strstr(t, "128 bytes from spill 0 to"));
	unit_mem_close(&m);
	memgraph_free(&mg);
}
END_TEST

/* Out of core: the chain's buffers 0 .. 2 (A, B, C) become an input
 * (64 f32), an intermediate and an output (64 f32, which nothing reads). */
typedef struct FixIo {
	TraIndex idx[3];
	int64_t lo[FIX_MAX][1], hi[FIX_MAX][1];
	int in[FIX_MAX][FIX_MAX];
} FixIo;

static void fix_io(Fix *f, FixIo *x)
{
	memset(x, 0, sizeof *x);
	for (int v = 0; v < 3; v++) {
		x->idx[v].size = 64;
		f->nodes[v] = (TraNode){.kind = v == 0 ? TRA_NODE_INPUT : TRA_NODE_EINSUM, .name = fix_names[v],
		                        .type = TRART_F32, .rank = 1, .nidx = 1, .idx = &x->idx[v], .is_output = v == 2};
	}
	f->pooled[0] = f->pooled[2] = 0; /* the caller's, whole */
}

/* Task t covers [lo, hi) of its node; an input leaf when leaf; reads the
 * tasks of in (a list ending in -1). */
static void fix_io_task(Fix *f, FixIo *x, int t, bool leaf, int64_t lo, int64_t hi, const int *in)
{
	IaTask *k = &f->tasks[t];
	k->kind = leaf ? IA_INPUT : IA_JOIN;
	k->final = !leaf;
	k->ndim = 1;
	x->lo[t][0] = lo;
	x->hi[t][0] = hi;
	k->lo = x->lo[t];
	k->hi = x->hi[t];
	k->in = x->in[t];
	for (k->nin = 0; in && in[k->nin] >= 0; k->nin++)
		x->in[t][k->nin] = in[k->nin];
}

START_TEST(inputs_outputs_out_of_core)
{
	/* two halves of X, each read by the join that makes Y's half; the
	 * budget holds one X block and one Y block (128 bytes each) */
	static const char *const uses[] = {"A", "CB", "A", "CB"};
	static const int in1[] = {0, -1}, in3[] = {2, -1};
	Fix f;
	FixIo x;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 3, 4, uses);
	fix_io(&f, &x);
	fix_io_task(&f, &x, 0, true, 0, 32, NULL);
	fix_io_task(&f, &x, 1, false, 0, 32, in1);
	fix_io_task(&f, &x, 2, true, 32, 64, NULL);
	fix_io_task(&f, &x, 3, false, 32, 64, in3);
	f.tasks[0].node = f.tasks[2].node = 0;
	f.tasks[1].node = f.tasks[3].node = 2;
	f.kt[0].nuse = f.kt[2].nuse = 0;
	/* B (an intermediate of 128 bytes) is used by both joins, with each pair of blocks */
	ck_assert(!memgraph_build(&f.kp, 300, &mg, err, sizeof err));
	ck_assert_msg(strstr(err, "the smallest budget that works is 384 bytes"), "%s", err);
	ck_assert(memgraph_build(&f.kp, 384, &mg, err, sizeof err));
	int x0 = KPLAN_PARTIAL(&f.kp, 0), x1 = KPLAN_PARTIAL(&f.kp, 2);
	int y0 = KPLAN_PARTIAL(&f.kp, 1), y1 = KPLAN_PARTIAL(&f.kp, 3);
	ck_assert_int_eq(mg.bufs[x0].io, MG_IN);
	ck_assert_int_eq(mg.bufs[y1].io, MG_OUT);
	ck_assert_int_eq(mg.bufs[x1].begin, 128);
	ck_assert_int_eq(mg.bufs[x1].bytes, 128);
	for (int b = 0; b < 4; b++) {
		int blk = (int[]){x0, x1, y0, y1}[b];
		MgKind in = b < 2 ? MG_READ : MG_CLAIM, out = b < 2 ? MG_DROP : MG_WRITE;
		int first = find_op(&mg, in, blk), last = find_op(&mg, out, blk);
		ck_assert_int_eq(count_ops(&mg, in, blk), 1);
		ck_assert_int_eq(count_ops(&mg, out, blk), 1);
		/* its user waits for it, and its end for its user */
		int user = b % 2 ? 3 : 1;
		ck_assert(has_edge(&mg, first, user) && has_edge(&mg, user, last));
		ck_assert_int_eq(mg.ops[first - mg.ntasks].spill, mg.bufs[blk].begin);
	}
	/* the second half's blocks take the first's room, after it is gone */
	int r1 = find_op(&mg, MG_READ, x1), c1 = find_op(&mg, MG_CLAIM, y1);
	ck_assert(has_edge(&mg, find_op(&mg, MG_DROP, x0), r1) || has_edge(&mg, find_op(&mg, MG_WRITE, y0), r1));
	ck_assert(has_edge(&mg, find_op(&mg, MG_DROP, x0), c1) || has_edge(&mg, find_op(&mg, MG_WRITE, y0), c1));
	ck_assert_int_eq(mg.domains[0].read, 256);
	ck_assert_int_eq(mg.domains[0].reads, 2);
	ck_assert_int_eq(mg.domains[0].written, 256);
	ck_assert_int_eq(mg.domains[0].writes, 2);
	ck_assert_int_le(mg.domains[0].arena, 384);
	/* the runtime's tables: blocks are not arena buffers, and their
	 * memory nodes name the tensor */
	ck_assert_int_eq(memgraph_arena_bytes(&mg, x0), 0);
	ck_assert_int_eq(memgraph_op_buffer(&mg, &f.kp, &mg.ops[r1 - mg.ntasks]), 0);
	ck_assert_int_eq(memgraph_op_buffer(&mg, &f.kp, &mg.ops[c1 - mg.ntasks]), 2);
	check_acyclic(&mg);
	memgraph_free(&mg);
	/* unbounded: inputs and outputs stay the caller's, whole */
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.bufs[x0].bytes, 0);
	ck_assert_int_eq(count_ops(&mg, MG_READ, x0) + count_ops(&mg, MG_CLAIM, y0), 0);
	memgraph_free(&mg);
}
END_TEST

START_TEST(input_block_dropped_and_read_again)
{
	/* X's one block is read by tasks 1 and 3; task 2 needs its room
	 * (intermediates B and C), so it is dropped, and read again for task 3 */
	static const char *const uses[] = {"A", "B", "CB", "C"};
	static const int in1[] = {0, -1}, in3[] = {0, 2, -1};
	Fix f;
	FixIo x;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 3, 4, uses);
	fix_io(&f, &x);
	f.nodes[1].is_output = f.nodes[2].is_output = false;
	f.pooled[1] = f.pooled[2] = 128;
	fix_io_task(&f, &x, 0, true, 0, 32, NULL);
	fix_io_task(&f, &x, 1, false, 0, 32, in1);
	fix_io_task(&f, &x, 2, false, 0, 32, NULL);
	fix_io_task(&f, &x, 3, false, 0, 32, in3);
	f.tasks[0].node = 0;
	f.kt[0].nuse = 0;
	ck_assert(memgraph_build(&f.kp, 256, &mg, err, sizeof err));
	int xb = KPLAN_PARTIAL(&f.kp, 0);
	ck_assert_int_eq(count_ops(&mg, MG_READ, xb), 2);
	ck_assert_int_eq(count_ops(&mg, MG_DROP, xb), 2);
	ck_assert_int_eq(count_ops(&mg, MG_OFFLOAD, xb), 0);
	ck_assert_int_eq(mg.domains[0].spill, 0);
	ck_assert_int_eq(mg.domains[0].reads, 2);
	/* the second read follows the first drop, and task 3 the second read */
	int drop = find_op(&mg, MG_DROP, xb), again = -1;
	for (int i = 0; i < mg.nops; i++)
		if (mg.ops[i].kind == MG_READ && mg.ops[i].buf == xb)
			again = mg.ntasks + i;
	ck_assert(has_edge(&mg, 1, drop) && has_edge(&mg, drop, again) && has_edge(&mg, again, 3));
	check_acyclic(&mg);
	memgraph_free(&mg);
}
END_TEST

/* Under a budget, an intermediate whose final blocks are each one stretch
 * of its layout, and whose readers each read within one of them, is kept
 * block by block: a buffer per final block (MG_BLOCK, in its task's
 * KPLAN_PARTIAL slot), and each task that touches it has a view of its
 * block. A reader of two blocks keeps the tensor whole. */
START_TEST(intermediate_kept_by_block)
{
	/* X (input) -> B (intermediate) -> C (output), each in two halves of
	 * 32 f32: leaves 0 and 2, B's joins 1 and 3, C's joins 4 and 5 */
	static const char *const uses[] = {"A", "BA", "A", "BA", "CB", "CB"};
	static const int in1[] = {0, -1}, in3[] = {2, -1}, in4[] = {1, -1}, in5[] = {3, -1};
	Fix f;
	FixIo x;
	Memgraph mg;
	char err[256];
	fix_chain(&f, 3, 6, uses);
	fix_io(&f, &x);
	f.pooled[1] = 256;
	fix_io_task(&f, &x, 0, true, 0, 32, NULL);
	fix_io_task(&f, &x, 1, false, 0, 32, in1);
	fix_io_task(&f, &x, 2, true, 32, 64, NULL);
	fix_io_task(&f, &x, 3, false, 32, 64, in3);
	fix_io_task(&f, &x, 4, false, 0, 32, in4);
	fix_io_task(&f, &x, 5, false, 32, 64, in5);
	f.tasks[0].node = f.tasks[2].node = 0;
	f.kt[0].nuse = f.kt[2].nuse = 0;
	ck_assert(memgraph_build(&f.kp, 1024, &mg, err, sizeof err));
	int b0 = KPLAN_PARTIAL(&f.kp, 1), b1 = KPLAN_PARTIAL(&f.kp, 3);
	ck_assert_int_eq(mg.bufs[1].bytes, 0); /* B is never whole */
	ck_assert_int_eq(mg.bufs[b0].io, MG_BLOCK);
	ck_assert_int_eq(mg.bufs[b1].io, MG_BLOCK);
	ck_assert_int_eq(mg.bufs[b0].begin, 0);
	ck_assert_int_eq(mg.bufs[b1].begin, 128);
	ck_assert_int_eq(memgraph_arena_bytes(&mg, b1), 128);
	ck_assert_int_eq(memgraph_arena_offset(&mg, b1), mg.bufs[b1].offset);
	/* the writer and the reader of each block view it, and nothing else */
	static const int viewers[] = {1, 3, 4, 5};
	for (int i = 0; i < 4; i++) {
		int t = viewers[i], blk = i % 2 ? b1 : b0;
		ck_assert_int_eq(mg.nviews[t], 1);
		ck_assert_int_eq(mg.views[t][0].node, 1);
		ck_assert_int_eq(mg.views[t][0].buf, blk);
		ck_assert_int_eq(mg.views[t][0].begin, mg.bufs[blk].begin);
	}
	ck_assert_int_eq(mg.nviews[0] + mg.nviews[2], 0);
	/* each block's residency runs from its writer to its reader */
	for (int r = 0; r < mg.nres; r++)
		if (mg.res[r].buf == b0)
			ck_assert(mg.res[r].nusers == 2 && mg.res[r].users[0] == 1 && mg.res[r].users[1] == 4);
	check_acyclic(&mg);
	memgraph_free(&mg);
	/* unbounded too: B by block, each task viewing the one it touches;
	 * the inputs and outputs stay the caller's (nothing out of core) */
	ck_assert(memgraph_build(&f.kp, 0, &mg, err, sizeof err));
	ck_assert_int_eq(mg.bufs[1].bytes, 0);
	ck_assert_int_eq(mg.bufs[b0].io, MG_BLOCK);
	ck_assert_int_eq(mg.bufs[b1].io, MG_BLOCK);
	ck_assert_int_eq(mg.domains[0].reads + mg.domains[0].writes, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(mg.views[viewers[i]][0].buf, i % 2 ? b1 : b0);
	check_acyclic(&mg);
	memgraph_free(&mg);
	/* one reader of both halves: B stays whole under the budget too */
	static const int both[] = {1, 3, -1};
	fix_io_task(&f, &x, 5, false, 0, 64, both);
	f.kt[4].nuse = 0;
	f.tasks[4].kind = IA_INPUT;
	f.tasks[4].node = 0;
	ck_assert(memgraph_build(&f.kp, 1024, &mg, err, sizeof err));
	ck_assert_int_eq(mg.bufs[1].bytes, 256);
	ck_assert_int_eq(mg.bufs[b0].bytes, 0);
	ck_assert_ptr_null(mg.views); /* no task has any */
	check_acyclic(&mg);
	memgraph_free(&mg);
}
END_TEST

static Suite *memgraph_suite(void)
{
	Suite *s = suite_create("memgraph");
	TCase *tc = tcase_create("plan");
	tcase_add_test(tc, reuse_after_free);
	tcase_add_test(tc, unbounded_reuse_local);
	tcase_add_test(tc, earliest_freed_wins);
	tcase_add_test(tc, belady_victim);
	tcase_add_test(tc, too_small);
	tcase_add_test(tc, chains_under_budgets);
	tcase_add_test(tc, aligned_offsets);
	tcase_add_test(tc, random_graphs_safe);
	tcase_add_test(tc, dump_readable);
	tcase_add_test(tc, inputs_outputs_out_of_core);
	tcase_add_test(tc, input_block_dropped_and_read_again);
	tcase_add_test(tc, intermediate_kept_by_block);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(memgraph_suite)
