/* sched.c: running a block task graph, event-driven, on worker threads.
 *
 * Once the compiler cuts nodes into blocks, a program is a DAG of tasks
 * (trart.h's TrartTask): each computes one block and may start when the
 * tasks it depends on have completed. This is TURNIP's event loop
 * (RESEARCH.md) on CPU threads. Every task has a counter of predecessors
 * still running (an atomic, set to npred); a completion is the event that
 * decrements the counters of the task's successors, and the completion
 * that brings one to zero releases it: the successor goes to the ready
 * queue of the worker its placement names (device d: worker
 * d % threads). Each worker runs the highest-priority task of its own
 * queue (priority is the b-level, so the critical path goes first, as in
 * Doppler's baseline); when its queue is empty and stealing is on, it
 * takes the best task at the top of the other queues, and only when
 * there is nothing at all does it sleep. No queue is shared: a queue is
 * a binary max-heap under its own mutex, so workers contend only when
 * they release tasks to, or steal from, the same one.
 *
 * The threads outlive a run. The calling thread is worker 0; workers 1
 * and up are threads created the first time a run needs them and kept,
 * asleep on sched_pool.start, until trart_shutdown (trart_sched_stop).
 * Creating them per run was simpler, but a new thread may take a
 * millisecond to get going on a loaded or virtual machine, which is the
 * whole of a small graph's run: layernorm's two row blocks ran one after
 * the other on worker 0 while worker 1 was still starting. A run is
 * published (sched_pool.run, a new generation) only once its queues are
 * seeded. A worker joins it when it wakes (busy counts the workers that
 * joined), but only while it is open: the caller closes it once every
 * task is done, and then waits for the workers that joined to be back
 * before it frees anything. A worker that wakes after that skips the
 * run. So a graph finished by the threads already awake does not wait
 * for a sleeping one to get going: a 5-task graph of microseconds
 * (colsum at 64x64) took 12-19 us a run on 2 threads, against 3 us on
 * one, when the caller waited for every worker; 3.2-4.4 us now (the
 * --time medians of --repeat 201). A worker back from a run looks for
 * the next one for SCHED_SPIN_NS (200 us, yielding the core at every
 * look) before it sleeps on sched_pool.start, as OpenBLAS's threads do
 * after a call: woken from sleep, worker 1 often came too late for a
 * run of a few hundred microseconds (colsum 8192x1024, --threads 2
 * --repeat 41 --trace on an idle machine: 14 of 41 runs used both
 * workers, the second starting 6-890 us after the first; with the spin
 * 41 of 41, 1-2 us apart, runs of 265-350 us). One run at a time
 * (run_lock), so concurrent callers (library mode) take turns. A thread
 * that could not be created just means fewer workers (placements are
 * taken modulo the ones that exist).
 * On the workers, trart_parallel_for runs inline and OpenBLAS is set to
 * one thread (the count it had is restored after): the parallelism is
 * the tasks, one per worker, and nested thread pools would only
 * oversubscribe the cores.
 *
 * Sleeping and waking. An idle worker w sleeps on its own condition
 * variable under one lock, sched.lock, with its `asleep` flag set and
 * `nasleep` counting the flags. The handshake with a worker releasing a
 * task t to queue h is Dekker's:
 *
 *   releaser: push t on queue h; size[h] = n (seq_cst store)
 *             if nasleep > 0 (seq_cst load): lock; wake h if asleep,
 *             else (stealing) one sleeping worker; unlock
 *   sleeper:  lock; asleep[w] = 1; nasleep++ (seq_cst);
 *             look at size[w] (and, stealing, every size: seq_cst loads);
 *             work: clear the flag and go back; none: wait (unlocks)
 *
 * All four accesses are seq_cst, so in their single total order either
 * the releaser's store comes before the sleeper's loads (the sleeper sees
 * the task and does not sleep), or the sleeper's increment comes before
 * the releaser's load (the releaser sees nasleep > 0 and takes the lock;
 * the sleeper holds the lock from its increment until its wait releases
 * it, so the wake-up comes after the wait began, never before it). So a
 * wake-up is never lost, and releasers pay for the lock only while some
 * worker sleeps. A worker that sleeps without stealing looks only at its
 * own queue, but then only it can run those tasks, and the releaser
 * always wakes the home worker first. Waking is only ever a hint: a
 * woken worker (or a spurious wake-up) just looks again.
 *
 * Why it cannot deadlock: a queue lock is held only for a heap
 * operation and never while taking another lock, and sched.lock is never
 * held while taking a queue lock, so there is no lock cycle; fn runs with
 * no lock held. Why it cannot hang: a worker with a non-empty queue is
 * never asleep (it looked at its queue under sched.lock before sleeping,
 * and a later push wakes it, by the argument above), so a ready task is
 * always run by its home worker if no one steals it. When the last task
 * completes, its worker sets `done` and wakes everyone. And if every
 * worker is asleep (nasleep == workers, seen under sched.lock) while
 * tasks are left, no task is running and none is queued, so none will
 * ever be released: that is a cycle, and the last worker to fall asleep
 * ends the program with a message naming the tasks still waiting, where a
 * simpler executor would hang. The cheaper mistakes (npred not matching
 * the succ lists, an index out of range, a missing fn) are caught before
 * anything runs, in O(tasks + edges).
 *
 * Memory order: a task's writes reach its successors through the
 * counter (each decrement is a seq_cst read-modify-write, so the last
 * one synchronizes with every earlier one) and then through the queue's
 * mutex, which the worker that runs the successor takes to pop it.
 *
 * Buffers. Tasks read and write their tensors through bufs, but a
 * graph may leave some (its intermediate tensors) to the executor
 * (TrartTaskGraph.pooled): those come from the block pool (pool.c) when
 * the first task that writes one starts, and go back when the last task
 * that uses one completes, so only the tensors in flight take memory.
 * Before a task runs, every pooled buffer it uses that is not made yet
 * (one it writes first: a block kernel may write several, its row
 * group's) is allocated under buflock, and then its `made` flag is set
 * (release); another writer that sees the flag (acquire) sees the
 * pointer, and every reader runs after some writer completed (it
 * depends on the blocks it reads), so it sees it through the counters.
 * Each completion decrements the count of tasks still to use each of
 * its buffers; the one that brings it to zero is the last user, after
 * every other user completed (the decrements are seq_cst), and frees
 * it. Only the first TrartTaskGraph.ncaller entries of the caller's
 * bufs exist: a buffer past them is one the executor provides (a split
 * reduction's partial blocks are), or one no task uses.
 *
 * Arena mode. When the compiler has planned the graph's memory
 * (TrartTaskGraph.arena > 0; compiler/memgraph.c, TURNIP's memgraph),
 * every pooled buffer lives at its planned offset of one arena, which
 * spill.c provides before the run and keeps for the next. Then the
 * executor's bufs holds every buffer from the start of the run, and
 * nothing is allocated, counted or freed while it goes (sched_make and
 * sched_unuse do nothing): buffers that share a region of the arena are
 * never live at once, because the plan's edges (its ALLOC and FREE
 * tasks among them) order a region's next writer after the users of its
 * last occupant. A buffer the plan offloads to the spill file and
 * reloads elsewhere changes address mid-run: its RELOAD task
 * (trart_mem_task) writes the new address into the executor's bufs, and
 * every later user of the buffer depends on the reload, so it sees the
 * address through the counters, as it would a block the reload wrote.
 * The memory tasks are rows of the table like any other, and the event
 * loop tells them apart only to run the offloads and reloads on the I/O
 * thread.
 *
 * The I/O thread. Offloads and reloads wait on the disk, and so do the
 * reads and writes of input and output blocks out of core (spill.c;
 * with an arena or not), and a worker
 * that ran one would sit idle while its queue waited: nothing should
 * block a worker. So a run that has them hands them to one more thread,
 * the I/O thread (outside the --threads count: it computes nothing),
 * created the first time a run needs it and kept, like the workers,
 * until trart_shutdown; between runs it sleeps on sched_pool.start, not
 * spinning, and it joins only runs with I/O to do. Such a run cannot
 * end before its I/O tasks are done, so the thread always joins it in
 * time, however late it wakes. A released offload or reload goes to the
 * thread's own queue, io (a heap by priority, like a worker's), and the
 * thread sleeps on io_wake under io's lock, which the releaser holds to
 * push and signal, so no wake-up is lost. It runs them one at a time
 * (the disk is one device), as worker -1 (a trace track of its own, no
 * worker stats), and releases their successors like any completion.
 * The cycle check counts it: io_pending counts the offloads and reloads
 * queued or running, raised before the push and lowered only once the
 * task's successors are queued and their workers woken. So a worker
 * that finds under sched.lock every worker asleep and io_pending 0 knows
 * that nothing runs or waits anywhere; and the I/O thread makes the
 * same check when its decrement brings io_pending to 0, since it may be
 * the last thread awake. Where the thread cannot be created, the
 * workers run the offloads and reloads like any other task.
 *
 * Ranks. A graph placed on MPI ranks (TrartTaskGraph.nranks, trac
 * --ranks) runs, on each rank, the part sched_ranks_plan works out:
 * the tasks placed on the rank's devices, and the tasks that only order
 * (no pieces) that some of those wait for, on every rank that needs
 * them. A task that writes a block and has a reader on another rank is
 * sent there as its pieces (trart.h's TrartPiece), and so is every
 * final block of an output to rank 0, which writes the outputs. The
 * transport is trart.h's TrartComm (runtime/mpi.c): this file never
 * includes mpi.h. Every receive is posted before the run is published,
 * into buffers that exist from the start (on ranks, every pooled buffer
 * is allocated for the whole run: a piece may arrive before the first
 * task here that uses its buffer); a send is queued by the worker that
 * completed the task and posted by the comm thread, a thread of the run
 * (outside --threads, like the I/O thread) that alone talks to the
 * transport while the run goes, polling its requests and napping (1 us,
 * doubling to SCHED_COMM_NAP_NS, or to SCHED_COMM_NAP_IDLE_NS while every
 * worker sleeps) when nothing happened, woken early by a queued send. A task's npred is the same on every rank: each
 * predecessor either runs here and releases it, or was made on another
 * rank and its last piece to arrive releases it. The run ends when the
 * tasks here, the sends and the receives are all done; the cycle check
 * is off (a rank waiting on a message is not stuck), and a transport
 * that fails ends the program.
 *
 * GPUs. A graph placed on GPUs (TrartTaskGraph.ngpus, trac --gpus) runs
 * every task on one: gpu.c gives each GPU its copy of the buffers its
 * tasks use and moves blocks between them as pieces, over a device's
 * operations (gpu.h: the simulated GPUs of gpu_sim.c). The event loop
 * is then the calling thread's, worker 0's, and no other worker joins:
 * a released task goes to worker 0's queue (by priority, as always, so
 * TRART_SHUFFLE applies); the loop submits each one (gpu.c queues its
 * kernel, or its input block's copies, on the GPU's streams and returns
 * at once), polls the events of everything in flight, and completes the
 * tasks whose kernel and outgoing copies are done, which releases their
 * successors onto the same queue. It naps while nothing happens (1 us,
 * doubling to SCHED_GPU_NAP_NS): a device call never blocks it. Nothing
 * queued, nothing in flight and tasks left is a cycle.
 *
 * Profiling costs nothing unless a recorder is attached (exec.h): then
 * each worker writes its tasks' times into their own slots of one array
 * (no sharing, no locks), and after the run the calling thread hands
 * them, in start order, to trace.c, with the per-worker steals and, in
 * arena mode, the time tasks spent ready but for a reload, worked out
 * from the same records (sched_reload_wait).
 */
#define _POSIX_C_SOURCE 200809L

#include "exec.h"
#include "gpu.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a worker back from a run looks for the next one before it
 * sleeps (see the opening comment). */
#define SCHED_SPIN_NS 200000

/* The most ranks a graph may be placed on (a task's readers' ranks are
 * the bits of a word). */
#define SCHED_MAX_RANKS 64

/* The longest the comm thread sleeps between looks at its requests
 * when nothing happens (it starts at 1 us and doubles): while some
 * worker computes, and while every worker sleeps (waiting, most likely,
 * for a message). Each look takes the core from a worker: with 2 ranks
 * of 1 worker on 2 cores, naps of at most 100 us made W1's GEMMs run at
 * 80 GFLOP/s a worker against 120 without ranks (--stats), 1 ms at 101;
 * but once every worker waits, the core is free and a message's arrival
 * is the critical path. */
#define SCHED_COMM_NAP_NS 1000000
#define SCHED_COMM_NAP_IDLE_NS 20000

/* How many of the stuck tasks the message about a cycle names. */
#define SCHED_SHOW_STUCK 8

/* A worker's ready queue: a binary max-heap of task indices. */
typedef struct SchedQueue {
	pthread_mutex_t lock; /* guards heap and n */
	int *heap;            /* task indices, best at heap[0] */
	int n;                /* entries */
	atomic_int size;      /* n, for looking without the lock */
} SchedQueue;

/* One worker (its index in Sched.w; 0 is the calling thread): its
 * queue, its sleep, its counts. */
typedef struct SchedWorker {
	SchedQueue q;         /* its ready tasks */
	pthread_cond_t wake;  /* signalled under Sched.lock to look again */
	bool asleep;          /* waiting on wake (under Sched.lock) */
	int64_t steals;       /* tasks it took from other queues (its own) */
} SchedWorker;

/* When and where a task ran, when profiling. */
typedef struct SchedRecord {
	int worker;
	int64_t start_ns, end_ns;
	double mem;           /* trart_mem_live() once it was done */
} SchedRecord;

/* One trart_run_tasks call. */
typedef struct Sched {
	const TrartTask *tasks;
	int ntasks;
	void **bufs;          /* what every fn gets: the caller's, or, with
	                         pooled buffers, a copy holding those too */
	const size_t *pooled; /* per buffer: bytes if the executor manages
	                         it (TrartTaskGraph.pooled), or NULL */
	int nbufs;            /* entries in bufs, when pooled */
	char *arena;          /* arena mode: the arena's base (spill.c);
	                         NULL: pooled buffers come from the pool */
	atomic_int *uses;     /* per buffer: tasks still to use it (pool mode) */
	atomic_bool *made;    /* per buffer: allocated, bufs[] set (pool mode) */
	pthread_mutex_t buflock; /* serialises the allocations (pool mode) */
	bool steal;           /* idle workers take others' tasks */
	int nw;               /* workers (final once published) */
	SchedWorker *w;       /* nw of them (room for the requested count) */
	atomic_int *pending;  /* per task: predecessors not yet completed */
	atomic_int left;      /* tasks not yet completed */
	atomic_int nasleep;   /* workers with asleep set */
	pthread_mutex_t lock; /* guards asleep, done; the sleepers' lock */
	bool done;            /* every task completed */
	SchedRecord *rec;     /* per task, when profiling; else NULL */
	/* The I/O thread's part (the protocol is at the top): */
	bool io_on;           /* it runs this run's offloads and reloads */
	SchedQueue io;        /* those that are ready (io.lock guards io_done) */
	pthread_cond_t io_wake; /* signalled when io gets one, or at the end */
	bool io_done;         /* every task completed */
	atomic_int io_pending; /* offloads and reloads queued on io or running */
	/* Ranks (the protocol is at the top); comm NULL: one process: */
	const TrartComm *comm; /* the transport, when this rank is one of many */
	int rank_devices;     /* devices per rank: device d is worker
	                         (d % rank_devices) % nw of rank d / rank_devices */
	bool *here;           /* per task: runs on this rank */
	uint64_t *dest;       /* per task made here: the other ranks it is sent to */
	int *recv_left;       /* per task made elsewhere: its pieces still to come */
	int *req_task;        /* per request id: the task whose piece it moves */
	bool *req_send;       /* per request id: a send (else a receive) */
	int nreq;             /* requests posted (the comm thread's, once started) */
	int *done_ids;        /* poll's room: one per request */
	int *sendq;           /* tasks made here, done, whose pieces are to go out */
	int nsendq;           /* entries in sendq (under comm_lock) */
	int sendq_done;       /* of those, the ones the comm thread sent */
	pthread_mutex_t comm_lock; /* guards sendq, nsendq, comm_done */
	pthread_cond_t comm_wake; /* a send was queued, or the run is done */
	bool comm_done;       /* every task and message is done */
	pthread_t comm_thread;
	double sent, received; /* bytes of pieces this rank sent and received */
	int64_t nsent, nreceived; /* how many pieces */
	/* GPUs (gpu.c; the protocol is at the top); NULL: CPU workers: */
	TrartGpuRun *gpu;
	int ngpus;            /* the graph's GPUs: a profile's tracks */
	TrartGpuStats gpu_stats; /* what the run moved, once it ended */
} Sched;

static void sched_sigmask(sigset_t *set);

/* The worker the calling thread is, or -1. */
static _Thread_local int sched_self = -1;

int
trart_worker_id(void)
{
	return sched_self;
}

/* Whether a task waits on the disk: an offload or a reload (the spill
 * file), or the read or write of an input or output block (its file),
 * the I/O thread's tasks. A drop or a claim only gives pages back. */
static bool
sched_is_io(const TrartTask *task)
{
	return task->mem && (task->mem->kind == TRART_MEM_OFFLOAD ||
	                     task->mem->kind == TRART_MEM_RELOAD ||
	                     task->mem->kind == TRART_MEM_READ ||
	                     task->mem->kind == TRART_MEM_WRITE);
}

/* The worker that runs task t: its device's, taken modulo the workers
 * (on ranks, modulo its rank's devices first). */
static int
sched_home(const Sched *s, int t)
{
	int d = s->tasks[t].device;

	return (s->comm ? d % s->rank_devices : d) % s->nw;
}

/* ---- failing loudly ---- */

static _Noreturn void
sched_fatal(const char *msg)
{
	fprintf(stderr, "trart: task graph: %s\n", msg);
	abort();
}

static void *
sched_alloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		sched_fatal("out of memory");
	return p;
}

/* "task 'name' (#i)" for messages. */
static void
sched_describe(char *buf, size_t len, const TrartTask *tasks, int t)
{
	snprintf(buf, len, "task '%s' (#%d)",
	         tasks[t].name ? tasks[t].name : "?", t);
}

/* Ends the program: task t is malformed in the way msg says. */
static _Noreturn void
sched_bad_task(const TrartTask *tasks, int t, const char *msg)
{
	char who[256], line[512];

	sched_describe(who, sizeof who, tasks, t);
	snprintf(line, sizeof line, "%s: %s", who, msg);
	sched_fatal(line);
}

/* Checks one task's own fields; counts its successors' in-degrees. */
static void
sched_check_task(const TrartTaskGraph *g, int t, int *indeg)
{
	const TrartTask *task = &g->tasks[t];
	int i;

	if (!task->fn)
		sched_bad_task(g->tasks, t, "no block kernel (fn is NULL)");
	if (task->npred < 0 || task->nsucc < 0 || (task->nsucc > 0 && !task->succ))
		sched_bad_task(g->tasks, t, "negative npred or nsucc, or no succ");
	if (task->device < 0)
		sched_bad_task(g->tasks, t, "negative device");
	if (task->priority != task->priority)
		sched_bad_task(g->tasks, t, "priority is NaN");
	for (i = 0; i < task->nsucc; i++) {
		if (task->succ[i] < 0 || task->succ[i] >= g->ntasks)
			sched_bad_task(g->tasks, t, "a successor index is out of range");
		indeg[task->succ[i]]++;
	}
}

/* Checks task t's buffer fields, when g has pooled buffers. */
static void
sched_check_bufs(const TrartTaskGraph *g, int t)
{
	const TrartTask *task = &g->tasks[t];
	int i;

	if (task->nuse < 0 || (task->nuse > 0 && !task->use))
		sched_bad_task(g->tasks, t, "negative nuse, or no use");
	for (i = 0; i < task->nuse; i++)
		if (task->use[i] < 0 || task->use[i] >= g->nbufs)
			sched_bad_task(g->tasks, t, "a use is not a buffer");
}

/* Checks a read, drop, claim or write: its buffer is the caller's, its
 * range not negative, and its room inside the arena when there is one
 * (where the block lies in its tensor, only the memory task can tell:
 * it checks against the tensor's mapped file). */
static void
sched_check_file_block(const TrartTaskGraph *g, int t)
{
	const TrartMemOp *op = g->tasks[t].mem;
	int ncaller = g->pooled ? g->ncaller : g->nbufs;
	int64_t room;

	if (op->buf < 0 || op->buf >= ncaller ||
	    (g->pooled && op->buf < g->nbufs && g->pooled[op->buf]))
		sched_bad_task(g->tasks, t, "reads or writes a block of a buffer "
		               "that is not an input's or output's");
	if (op->bytes < 0 || op->spill < 0 || op->bytes > INT64_MAX - 63)
		sched_bad_task(g->tasks, t, "a block with a negative size or start");
	room = (op->bytes + 63) / 64 * 64;
	if (g->arena > 0 && (op->offset < 0 || op->offset > g->arena - room))
		sched_bad_task(g->tasks, t, "a block's room is outside the arena");
}

/* Checks task t's memory operation, when it has one. */
static void
sched_check_mem(const TrartTaskGraph *g, int t)
{
	const TrartTask *task = &g->tasks[t];
	const TrartMemOp *op = task->mem;
	int64_t size;

	if (!op) {
		if (task->fn == trart_mem_task)
			sched_bad_task(g->tasks, t, "a memory task without its operation (mem is NULL)");
		return;
	}
	if (op->kind < TRART_MEM_ALLOC || op->kind > TRART_MEM_WRITE)
		sched_bad_task(g->tasks, t, "an unknown memory operation");
	if (op->kind >= TRART_MEM_READ) {
		sched_check_file_block(g, t);
		return;
	}
	if (op->buf < 0 || op->buf >= g->nbufs || !g->pooled)
		sched_bad_task(g->tasks, t, "a memory task's buffer is not a buffer");
	if (op->kind != TRART_MEM_OFFLOAD && op->kind != TRART_MEM_RELOAD)
		return;
	if (g->arena <= 0 || !g->pooled[op->buf])
		sched_bad_task(g->tasks, t, "an offload or reload of a buffer "
		               "that is not in an arena");
	size = (int64_t)g->pooled[op->buf];
	if (op->bytes < 0 || op->bytes > size || op->spill < 0 ||
	    op->spill > g->spill - op->bytes)
		sched_bad_task(g->tasks, t, "moves bytes outside its buffer or "
		               "outside the spill file");
	if (op->kind == TRART_MEM_RELOAD &&
	    (op->offset < 0 || op->offset > g->arena - size))
		sched_bad_task(g->tasks, t, "reloads its buffer outside the arena");
}

/* Checks the memory plan of a graph with an arena: every buffer the
 * executor provides lies inside it. */
static void
sched_check_arena(const TrartTaskGraph *g)
{
	char msg[160];
	int b;

	if (!g->pooled || !g->offset)
		sched_fatal("an arena, but no pooled buffers or no offsets");
	if (g->spill < 0)
		sched_fatal("a negative spill file size");
	for (b = 0; b < g->nbufs; b++) {
		int64_t size = (int64_t)g->pooled[b];
		if (g->pooled[b] == 0 || (size > 0 && size <= g->arena &&
		    g->offset[b] >= 0 && g->offset[b] <= g->arena - size))
			continue;
		snprintf(msg, sizeof msg, "buffer %d (%lld bytes at offset %lld) "
		         "is outside the arena of %lld bytes", b, (long long)size,
		         (long long)g->offset[b], (long long)g->arena);
		sched_fatal(msg);
	}
}

/* Checks task t's pieces and rank, when g is placed on ranks. */
static void
sched_check_ranks(const TrartTaskGraph *g, int t)
{
	const TrartTask *task = &g->tasks[t];
	int i, d;

	if (g->rank_devices <= 0 || g->nranks > SCHED_MAX_RANKS)
		sched_fatal("ranks without devices per rank, or too many ranks");
	if (task->device / g->rank_devices >= g->nranks)
		sched_bad_task(g->tasks, t, "placed on a rank past the last");
	if (task->npiece < 0 || (task->npiece > 0 && !task->piece))
		sched_bad_task(g->tasks, t, "a negative npiece, or no pieces");
	for (i = 0; i < task->npiece; i++) {
		const TrartPiece *pc = &task->piece[i];
		if (pc->buf < 0 || pc->buf >= g->nbufs || pc->elsize <= 0 ||
		    pc->ndim < 1 || pc->ndim > TRART_MAX_RANK || !pc->dims)
			sched_bad_task(g->tasks, t, "a piece that is not a box of a buffer");
		for (d = 0; d < pc->ndim; d++)
			if (pc->dims[pc->ndim + d] < 0 || pc->dims[2 * pc->ndim + d] < 0 ||
			    pc->dims[pc->ndim + d] + pc->dims[2 * pc->ndim + d] > pc->dims[d])
				sched_bad_task(g->tasks, t, "a piece outside its buffer");
	}
}

/* Checks g before anything runs: everything but cycles, which show up
 * as a stall (sched_stuck). */
static void
sched_check(const TrartTaskGraph *g)
{
	int *indeg, t;
	char msg[128];

	if (g->ntasks < 0 || (g->ntasks > 0 && !g->tasks))
		sched_fatal("negative task count, or no tasks array");
	if (g->pooled && (g->nbufs < 0 || g->ncaller < 0))
		sched_fatal("negative buffer count");
	if (g->arena > 0 && g->ngpus == 0) /* (on GPUs, gpu.c checks its arenas) */
		sched_check_arena(g);
	indeg = sched_alloc((size_t)g->ntasks, sizeof *indeg);
	for (t = 0; t < g->ntasks; t++) {
		sched_check_task(g, t, indeg);
		if (g->pooled)
			sched_check_bufs(g, t);
		if (g->ngpus == 0)
			sched_check_mem(g, t);
		if (g->nranks > 1)
			sched_check_ranks(g, t);
	}
	for (t = 0; t < g->ntasks; t++) {
		if (indeg[t] == g->tasks[t].npred)
			continue;
		snprintf(msg, sizeof msg, "npred is %d, but %d succ entries name it",
		         g->tasks[t].npred, indeg[t]);
		free(indeg);
		sched_bad_task(g->tasks, t, msg);
	}
	free(indeg);
}

/* Every worker is asleep, nothing is queued or running, tasks are left:
 * nothing will ever release them. Names some and ends the program
 * (sched.lock held; no worker can be changing anything). */
static _Noreturn void
sched_stuck(Sched *s)
{
	int t, shown = 0, left = atomic_load(&s->left);
	char who[256];

	fprintf(stderr, "trart: task graph: stuck with %d of %d tasks never "
	        "released: the graph has a cycle\n", left, s->ntasks);
	for (t = 0; t < s->ntasks && shown < SCHED_SHOW_STUCK; t++) {
		int p = atomic_load(&s->pending[t]);
		if (p <= 0)
			continue;
		sched_describe(who, sizeof who, s->tasks, t);
		fprintf(stderr, "trart: note: %s still waits for %d of its %d "
		        "predecessors\n", who, p, s->tasks[t].npred);
		shown++;
	}
	abort();
}

/* ---- the ready queues ---- */

/* TRART_SHUFFLE=SEED (a test's knob, read when a run starts, under
 * run_lock): priorities are replaced by a random order of the tasks drawn
 * from SEED, so tests see the graph's edges, not the b-levels, keep a run
 * correct (a missing edge shows up as a different order's wrong result
 * or ThreadSanitizer report). 0: off. */
static uint64_t sched_shuffle;

/* The shuffled priority of task t: a hash of the seed and t (splitmix64). */
static uint64_t
sched_shuffled(int t)
{
	uint64_t z = sched_shuffle + 0x9e3779b97f4a7c15u * (uint64_t)(t + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Whether task a runs before task b: higher priority, then lower index. */
static bool
sched_before(const TrartTask *tasks, int a, int b)
{
	if (sched_shuffle) {
		uint64_t ka = sched_shuffled(a), kb = sched_shuffled(b);
		if (ka != kb)
			return ka > kb;
	} else if (tasks[a].priority != tasks[b].priority) {
		return tasks[a].priority > tasks[b].priority;
	}
	return a < b;
}

static void
sched_sift_up(const TrartTask *tasks, int *h, int i)
{
	while (i > 0 && sched_before(tasks, h[i], h[(i - 1) / 2])) {
		int up = (i - 1) / 2, t = h[i];
		h[i] = h[up];
		h[up] = t;
		i = up;
	}
}

static void
sched_sift_down(const TrartTask *tasks, int *h, int n, int i)
{
	for (;;) {
		int best = i, c = 2 * i + 1, t;
		if (c < n && sched_before(tasks, h[c], h[best]))
			best = c;
		if (c + 1 < n && sched_before(tasks, h[c + 1], h[best]))
			best = c + 1;
		if (best == i)
			return;
		t = h[i];
		h[i] = h[best];
		h[best] = t;
		i = best;
	}
}

/* Adds task t to q, whose lock the caller holds (the heap has room: it
 * holds at most the tasks homed here, each once). */
static void
sched_heap_add(const Sched *s, SchedQueue *q, int t)
{
	q->heap[q->n] = t;
	sched_sift_up(s->tasks, q->heap, q->n++);
	atomic_store(&q->size, q->n);
}

/* Adds task t to q. */
static void
sched_push(const Sched *s, SchedQueue *q, int t)
{
	pthread_mutex_lock(&q->lock);
	sched_heap_add(s, q, t);
	pthread_mutex_unlock(&q->lock);
}

/* Removes and returns the best task, or -1 when empty. */
static int
sched_pop(const Sched *s, SchedQueue *q)
{
	int t = -1;

	if (atomic_load(&q->size) == 0)
		return -1;
	pthread_mutex_lock(&q->lock);
	if (q->n > 0) {
		t = q->heap[0];
		q->heap[0] = q->heap[--q->n];
		sched_sift_down(s->tasks, q->heap, q->n, 0);
		atomic_store(&q->size, q->n);
	}
	pthread_mutex_unlock(&q->lock);
	return t;
}

/* The best task at the top of q, or -1. */
static int
sched_peek(SchedQueue *q)
{
	int t = -1;

	if (atomic_load(&q->size) == 0)
		return -1;
	pthread_mutex_lock(&q->lock);
	if (q->n > 0)
		t = q->heap[0];
	pthread_mutex_unlock(&q->lock);
	return t;
}

/* Takes the best task among the other workers' queue tops, or -1 when
 * they are all empty. A top can change between the look and the pop;
 * the thief then takes that queue's new best, or looks again. */
static int
sched_steal(Sched *s, int w)
{
	for (;;) {
		int victim = -1, best = -1, i, t;
		for (i = 1; i < s->nw; i++) {
			int v = (w + i) % s->nw;
			t = sched_peek(&s->w[v].q);
			if (t >= 0 && (best < 0 || sched_before(s->tasks, t, best))) {
				best = t;
				victim = v;
			}
		}
		if (victim < 0)
			return -1;
		t = sched_pop(s, &s->w[victim].q);
		if (t >= 0) {
			s->w[w].steals++;
			return t;
		}
	}
}

/* The task worker w runs next, or -1 when it finds none. */
static int
sched_take(Sched *s, int w)
{
	int t = sched_pop(s, &s->w[w].q);

	if (t < 0 && s->steal)
		t = sched_steal(s, w);
	return t;
}

/* ---- sleeping and waking (the protocol is at the top) ---- */

/* Whether worker w would find a task: its queue, or, stealing, any. */
static bool
sched_has_work(Sched *s, int w)
{
	int i;

	if (!s->steal)
		return atomic_load(&s->w[w].q.size) > 0;
	for (i = 0; i < s->nw; i++)
		if (atomic_load(&s->w[i].q.size) > 0)
			return true;
	return false;
}

/* Wakes worker w (sched.lock held, w asleep). */
static void
sched_rouse(Sched *s, int w)
{
	s->w[w].asleep = false;
	atomic_fetch_sub(&s->nasleep, 1);
	pthread_cond_signal(&s->w[w].wake);
}

/* A task was pushed on queue h: wakes h, or a thief if h is awake. */
static void
sched_wake(Sched *s, int h)
{
	int i;

	if (atomic_load(&s->nasleep) == 0)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->w[h].asleep) {
		sched_rouse(s, h);
	} else if (s->steal) {
		for (i = 1; i < s->nw; i++)
			if (s->w[(h + i) % s->nw].asleep) {
				sched_rouse(s, (h + i) % s->nw);
				break;
			}
	}
	pthread_mutex_unlock(&s->lock);
}

/* Worker w found nothing: sleeps until woken with something to look at.
 * Returns false when the graph is done. */
static bool
sched_idle(Sched *s, int w)
{
	SchedWorker *me = &s->w[w];
	bool more;

	pthread_mutex_lock(&s->lock);
	me->asleep = true;
	atomic_fetch_add(&s->nasleep, 1);
	while (me->asleep && !s->done && !sched_has_work(s, w)) {
		if (atomic_load(&s->nasleep) == s->nw &&
		    atomic_load(&s->io_pending) == 0 && !s->comm)
			sched_stuck(s);
		pthread_cond_wait(&me->wake, &s->lock);
	}
	if (me->asleep) {
		me->asleep = false;
		atomic_fetch_sub(&s->nasleep, 1);
	}
	more = !s->done;
	pthread_mutex_unlock(&s->lock);
	return more;
}

/* The last task completed: every worker may return. */
static void
sched_finish(Sched *s)
{
	int i;

	pthread_mutex_lock(&s->lock);
	s->done = true;
	for (i = 0; i < s->nw; i++)
		if (s->w[i].asleep)
			sched_rouse(s, i);
	pthread_mutex_unlock(&s->lock);
	if (s->io_on) {
		pthread_mutex_lock(&s->io.lock);
		s->io_done = true;
		pthread_cond_signal(&s->io_wake);
		pthread_mutex_unlock(&s->io.lock);
	}
	if (s->comm) {
		pthread_mutex_lock(&s->comm_lock);
		s->comm_done = true;
		pthread_cond_signal(&s->comm_wake);
		pthread_mutex_unlock(&s->comm_lock);
	}
}

/* ---- pooled buffers (the protocol is at the top) ---- */

/* Allocates the pooled buffers task uses that are not yet made: those
 * it writes first (a buffer it reads was made by a writer before it).
 * In arena mode they all are. */
static void
sched_make(Sched *s, const TrartTask *task)
{
	int i;

	if (s->arena || s->comm)
		return;
	for (i = 0; i < task->nuse; i++) {
		int b = task->use[i];
		if (!s->pooled[b] ||
		    atomic_load_explicit(&s->made[b], memory_order_acquire))
			continue;
		pthread_mutex_lock(&s->buflock);
		if (!atomic_load_explicit(&s->made[b], memory_order_relaxed)) {
			s->bufs[b] = trart_pool_try(s->pooled[b]);
			if (!s->bufs[b])
				trart_out_of_memory((double)s->pooled[b], "tensor %s",
				                    task->name ? task->name : "?");
			atomic_store_explicit(&s->made[b], true, memory_order_release);
		}
		pthread_mutex_unlock(&s->buflock);
	}
}

/* task completed: frees the pooled buffers it was the last to use
 * (in arena mode the arena outlives the run). */
static void
sched_unuse(Sched *s, const TrartTask *task)
{
	int i;

	if (s->arena || s->comm)
		return;
	for (i = 0; i < task->nuse; i++) {
		int b = task->use[i];
		if (s->pooled[b] && atomic_fetch_sub(&s->uses[b], 1) == 1) {
			trart_pool_free(s->bufs[b]);
			s->bufs[b] = NULL;
		}
	}
}

/* ---- running ---- */

/* Queues offload or reload t for the I/O thread and wakes it (its
 * only sleep is on io_wake, under io.lock). */
static void
sched_io_push(Sched *s, int t)
{
	SchedQueue *q = &s->io;

	atomic_fetch_add(&s->io_pending, 1);
	pthread_mutex_lock(&q->lock);
	sched_heap_add(s, q, t);
	pthread_cond_signal(&s->io_wake);
	pthread_mutex_unlock(&q->lock);
}

/* Task u's last predecessor completed: queues it where it runs, an
 * offload or reload on the I/O thread when the run has one, any other
 * task on its home worker, and wakes who runs it. */
static void
sched_release(Sched *s, int u)
{
	int h = sched_home(s, u);

	if (s->io_on && sched_is_io(&s->tasks[u])) {
		sched_io_push(s, u);
		return;
	}
	sched_push(s, &s->w[h].q, u);
	sched_wake(s, h);
}

/* Task t completed here, or its pieces arrived here: releases its
 * successors that run here. */
static void
sched_release_succ(Sched *s, int t)
{
	const TrartTask *task = &s->tasks[t];
	int i;

	for (i = 0; i < task->nsucc; i++) {
		int u = task->succ[i];
		if (s->here && !s->here[u])
			continue;
		if (atomic_fetch_sub(&s->pending[u], 1) == 1)
			sched_release(s, u);
	}
}

/* One of the run's things to do is done (a task, or a message's
 * piece): the last ends the run. */
static void
sched_one_done(Sched *s)
{
	if (atomic_fetch_sub(&s->left, 1) == 1)
		sched_finish(s);
}

static void
sched_complete(Sched *s, int t)
{
	sched_release_succ(s, t);
	sched_one_done(s);
}

/* Task t, made here, is done: the comm thread sends its pieces to the
 * ranks that read it. */
static void
sched_comm_made(Sched *s, int t)
{
	if (s->comm->task_done)
		s->comm->task_done(s->comm->ctx, t);
	if (!s->dest[t])
		return;
	pthread_mutex_lock(&s->comm_lock);
	s->sendq[s->nsendq++] = t;
	pthread_cond_signal(&s->comm_wake);
	pthread_mutex_unlock(&s->comm_lock);
}

/* Runs task t on worker w (-1: the I/O thread), then releases its
 * successors. */
static void
sched_run(Sched *s, int w, int t)
{
	const TrartTask *task = &s->tasks[t];

	if (s->pooled)
		sched_make(s, task);
	trart_mem_set_tensor(task->name); /* for out-of-memory messages */
	if (s->rec) {
		s->rec[t].worker = w;
		s->rec[t].start_ns = trart_clock_ns();
		task->fn(s->bufs, task);
		s->rec[t].end_ns = trart_clock_ns();
	} else {
		task->fn(s->bufs, task);
	}
	trart_mem_set_tensor(NULL);
	if (s->pooled)
		sched_unuse(s, task);
	if (s->rec)
		s->rec[t].mem = trart_mem_live();
	if (s->comm && task->npiece > 0)
		sched_comm_made(s, t);
	sched_complete(s, t);
}

/* A worker's life: run what it finds, sleep when it finds nothing. */
static void
sched_loop(Sched *s, int w)
{
	for (;;) {
		int t = sched_take(s, w);
		if (t >= 0)
			sched_run(s, w, t);
		else if (!sched_idle(s, w))
			return;
	}
}

/* The I/O thread went idle with no offload or reload left in flight:
 * if every worker sleeps too while tasks are left, nothing will ever
 * release them (sched_idle's argument, the I/O thread counted). */
static void
sched_io_quiet(Sched *s)
{
	pthread_mutex_lock(&s->lock);
	if (!s->done && atomic_load(&s->nasleep) == s->nw &&
	    atomic_load(&s->io_pending) == 0)
		sched_stuck(s);
	pthread_mutex_unlock(&s->lock);
}

/* The I/O thread's life in a run: the offloads and reloads, best
 * first, one at a time, until every task is done. */
static void
sched_io_loop(Sched *s)
{
	for (;;) {
		int t;
		pthread_mutex_lock(&s->io.lock);
		while (s->io.n == 0 && !s->io_done)
			pthread_cond_wait(&s->io_wake, &s->io.lock);
		pthread_mutex_unlock(&s->io.lock);
		t = sched_pop(s, &s->io); /* the only consumer: one is there */
		if (t < 0)
			return;
		sched_run(s, -1, t);
		if (atomic_fetch_sub(&s->io_pending, 1) == 1)
			sched_io_quiet(s);
	}
}

/* ---- ranks (the protocol is at the top) ---- */

static const TrartComm *sched_comm_installed;

void
trart_set_comm(const TrartComm *c)
{
	sched_comm_installed = c;
}

const TrartComm *
trart_comm(void)
{
	return sched_comm_installed;
}

static int
sched_rank(const Sched *s, int t)
{
	return s->tasks[t].device / s->rank_devices;
}

double
trart_piece_bytes(const TrartPiece *pc)
{
	double n = pc->elsize;
	int d;

	for (d = 0; d < pc->ndim; d++)
		n *= (double)pc->dims[2 * pc->ndim + d];
	return n;
}

static int
sched_popcount(uint64_t x)
{
	int n = 0;

	for (; x; x &= x - 1)
		n++;
	return n;
}

/* What this rank does of the graph. need[t] is the set of ranks task t
 * runs on: a task that writes (has pieces) runs on its own; one that
 * only orders, on every rank that runs one of its successors (so a
 * rank waits for an ordering task's predecessors only where it needs
 * them). A task made on rank r is sent to every other rank that runs
 * one of its successors, and, when it is a final block of an output,
 * to rank 0. Every predecessor of a task that runs here either runs
 * here too or was made on another rank and is sent here, so a task's
 * npred counts the same on every rank: a completion here, or the
 * arrival of all its pieces, each releases its successors once.
 * The run ends when the tasks that run here, the pieces sent and the
 * pieces received are all done. */
int *
trart_topo_order(const TrartTask *tasks, int n)
{
	int *order = sched_alloc((size_t)n, sizeof *order);
	int *left = sched_alloc((size_t)n, sizeof *left), head = 0, tail = 0, t, i;

	for (t = 0; t < n; t++)
		if ((left[t] = tasks[t].npred) == 0)
			order[tail++] = t;
	while (head < tail) {
		const TrartTask *k = &tasks[order[head++]];
		for (i = 0; i < k->nsucc; i++)
			if (--left[k->succ[i]] == 0)
				order[tail++] = k->succ[i];
	}
	free(left);
	if (tail < n)
		sched_fatal("a cycle among the tasks");
	return order;
}

static void
sched_ranks_plan(Sched *s)
{
	int n = s->ntasks, me = s->comm->rank, t, i, j, left = 0, nreq = 0;
	uint64_t *need = sched_alloc((size_t)n, sizeof *need);
	int *order = trart_topo_order(s->tasks, n);

	s->here = sched_alloc((size_t)n, sizeof *s->here);
	s->dest = sched_alloc((size_t)n, sizeof *s->dest);
	s->recv_left = sched_alloc((size_t)n, sizeof *s->recv_left);
	for (j = n - 1; j >= 0; j--) { /* readers first */
		const TrartTask *k = &s->tasks[t = order[j]];
		for (i = 0; i < k->nsucc; i++)
			need[t] |= need[k->succ[i]];
		if (k->npiece == 0)
			continue;
		s->dest[t] = need[t];
		need[t] = (uint64_t)1 << sched_rank(s, t);
		for (i = 0; i < k->npiece; i++)
			if (k->piece[i].host == TRART_PIECE_OUTPUT)
				s->dest[t] |= 1;
		s->dest[t] &= ~need[t];
	}
	for (t = 0; t < n; t++) {
		const TrartTask *k = &s->tasks[t];
		s->here[t] = need[t] >> me & 1;
		left += s->here[t];
		if (k->npiece > 0 && sched_rank(s, t) == me)
			nreq += k->npiece * sched_popcount(s->dest[t]);
		else if (k->npiece > 0 && (s->dest[t] >> me & 1))
			nreq += s->recv_left[t] = k->npiece;
	}
	atomic_store(&s->left, left + nreq);
	s->done = left + nreq == 0;
	s->req_task = sched_alloc((size_t)nreq, sizeof *s->req_task);
	s->req_send = sched_alloc((size_t)nreq, sizeof *s->req_send);
	s->done_ids = sched_alloc((size_t)nreq, sizeof *s->done_ids);
	s->sendq = sched_alloc((size_t)n, sizeof *s->sendq);
	pthread_mutex_init(&s->comm_lock, NULL);
	pthread_cond_init(&s->comm_wake, NULL);
	free(need);
	free(order);
}

/* Posts a send to, or a receive from, rank peer of piece pc of task
 * t, tagged with t: the pieces of one task go and come in order, and
 * MPI keeps the order of messages between two ranks with one tag. */
static void
sched_post(Sched *s, bool send, int peer, int t, const TrartPiece *pc)
{
	int id = s->nreq++;

	s->req_task[id] = t;
	s->req_send[id] = send;
	if (send) {
		s->sent += trart_piece_bytes(pc);
		s->nsent++;
	} else {
		s->received += trart_piece_bytes(pc);
		s->nreceived++;
	}
	s->comm->post(s->comm->ctx, send, peer, t, s->bufs[pc->buf], pc, id);
}

/* Before the run: a receive for every piece that comes here (each into
 * its place in the buffer, which exists from the start on ranks). */
static void
sched_post_receives(Sched *s)
{
	int t, i;

	for (t = 0; t < s->ntasks; t++)
		for (i = 0; i < s->recv_left[t]; i++)
			sched_post(s, false, sched_rank(s, t), t, &s->tasks[t].piece[i]);
}

/* Posts the sends of the tasks queued since the last call; how many
 * tasks. */
static int
sched_comm_sends(Sched *s)
{
	int n, had = s->nsent, r, i;

	pthread_mutex_lock(&s->comm_lock);
	n = s->nsendq;
	pthread_mutex_unlock(&s->comm_lock);
	for (; s->sendq_done < n; s->sendq_done++) {
		int t = s->sendq[s->sendq_done];
		for (r = 0; r < s->comm->nranks; r++)
			for (i = 0; (s->dest[t] >> r & 1) && i < s->tasks[t].npiece; i++)
				sched_post(s, true, r, t, &s->tasks[t].piece[i]);
	}
	return (int)(s->nsent - had);
}

/* Takes the completed requests: a task whose last piece arrived
 * releases its successors here. Returns how many completed. */
static int
sched_comm_poll(Sched *s)
{
	int n = s->comm->poll(s->comm->ctx, s->done_ids), i;

	for (i = 0; i < n; i++) {
		int id = s->done_ids[i], t = s->req_task[id];
		if (!s->req_send[id] && --s->recv_left[t] == 0)
			sched_release_succ(s, t);
		sched_one_done(s);
	}
	return n;
}

/* The comm thread: posts sends as tasks complete and polls the
 * requests, napping (1 us, doubling to SCHED_COMM_NAP_NS, or to
 * SCHED_COMM_NAP_IDLE_NS while every worker sleeps) while nothing
 * happens, woken early by a task to send; until the run is done. */
static void *
sched_comm_thread(void *arg)
{
	Sched *s = arg;
	int64_t nap = 0, cap;

	for (;;) {
		struct timespec until;
		if (sched_comm_sends(s) + sched_comm_poll(s) > 0) {
			nap = 0;
			continue;
		}
		cap = atomic_load(&s->nasleep) == s->nw ? SCHED_COMM_NAP_IDLE_NS : SCHED_COMM_NAP_NS;
		nap = nap ? (nap * 2 < cap ? nap * 2 : cap) : 1000;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += nap;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&s->comm_lock);
		if (s->comm_done) {
			pthread_mutex_unlock(&s->comm_lock);
			return NULL;
		}
		if (s->nsendq == s->sendq_done)
			pthread_cond_timedwait(&s->comm_wake, &s->comm_lock, &until);
		pthread_mutex_unlock(&s->comm_lock);
	}
}

/* Starts the comm thread once the receives are posted (before the run
 * is published); false when it cannot be created. */
static bool
sched_comm_start(Sched *s)
{
	sigset_t block, old;
	bool ok;

	sched_post_receives(s);
	sched_sigmask(&block);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	ok = pthread_create(&s->comm_thread, NULL, sched_comm_thread, s) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

static void
sched_ranks_free(Sched *s)
{
	free(s->here);
	free(s->dest);
	free(s->recv_left);
	free(s->req_task);
	free(s->req_send);
	free(s->done_ids);
	free(s->sendq);
	pthread_mutex_destroy(&s->comm_lock);
	pthread_cond_destroy(&s->comm_wake);
}

/* ---- the executor's threads (the protocol is at the top) ---- */

static struct {
	pthread_mutex_t run_lock;  /* held for a whole run: one at a time */
	pthread_mutex_t lock;      /* guards everything below */
	pthread_cond_t start;      /* a new run was published, or stop */
	pthread_cond_t back;       /* busy fell to 0 */
	pthread_t thread[TRART_MAX_THREADS]; /* worker i is thread[i] */
	unsigned seen[TRART_MAX_THREADS];    /* the last run worker i took */
	int nthreads;              /* workers 1 .. nthreads - 1 exist */
	Sched *run;                /* the run published last: only its
	                              workers may look at it (the caller
	                              frees it once they are back) */
	int nw;                    /* its workers */
	atomic_uint gen;           /* runs published (written under lock; a
	                              spinning worker reads it without) */
	bool open;                 /* that run still takes workers: some
	                              task is not done */
	int busy;                  /* workers that joined it, not yet back
	                              (and the I/O thread, if it did) */
	bool stop;                 /* trart_sched_stop: return */
	pthread_t io;              /* the I/O thread, once io_exists */
	bool io_exists;            /* it was created */
	unsigned io_seen;          /* the last run it took */
} sched_pool = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, .nthreads = 1,
};

/* Waits up to SCHED_SPIN_NS, yielding, for a run after the one seen. */
static void
sched_spin(unsigned seen)
{
	int64_t until = trart_clock_ns() + SCHED_SPIN_NS;

	while (atomic_load(&sched_pool.gen) == seen && trart_clock_ns() < until)
		sched_yield();
}

/* A worker thread: takes every run published, works on those it is a
 * worker of, and says when it is back. */
static void *
sched_thread(void *arg)
{
	int id = (int)(intptr_t)arg;

	sched_self = id;
	trart_exec_set_inline(true);
	pthread_mutex_lock(&sched_pool.lock);
	for (;;) {
		Sched *s;
		if (!sched_pool.stop && sched_pool.gen == sched_pool.seen[id]) {
			pthread_mutex_unlock(&sched_pool.lock);
			sched_spin(sched_pool.seen[id]);
			pthread_mutex_lock(&sched_pool.lock);
		}
		while (!sched_pool.stop && sched_pool.gen == sched_pool.seen[id])
			pthread_cond_wait(&sched_pool.start, &sched_pool.lock);
		if (sched_pool.stop)
			break;
		sched_pool.seen[id] = sched_pool.gen;
		if (id >= sched_pool.nw || !sched_pool.open)
			continue; /* a run with fewer workers, or one that is over */
		s = sched_pool.run;
		sched_pool.busy++;
		pthread_mutex_unlock(&sched_pool.lock);
		sched_loop(s, id);
		pthread_mutex_lock(&sched_pool.lock);
		if (--sched_pool.busy == 0)
			pthread_cond_signal(&sched_pool.back);
	}
	pthread_mutex_unlock(&sched_pool.lock);
	return NULL;
}

/* The I/O thread: takes every run published, works on those with
 * offloads and reloads to run (it alone runs them, so every such run
 * waits for it to join), and says when it is back. It does not spin
 * between runs: its tasks wait on the disk anyway. */
static void *
sched_io_thread(void *arg)
{
	(void)arg;
	trart_exec_set_inline(true);
	pthread_mutex_lock(&sched_pool.lock);
	for (;;) {
		Sched *s;
		while (!sched_pool.stop && sched_pool.gen == sched_pool.io_seen)
			pthread_cond_wait(&sched_pool.start, &sched_pool.lock);
		if (sched_pool.stop)
			break;
		sched_pool.io_seen = sched_pool.gen;
		if (!sched_pool.open || !sched_pool.run->io_on)
			continue; /* a run that is over, or has no I/O */
		s = sched_pool.run;
		sched_pool.busy++;
		pthread_mutex_unlock(&sched_pool.lock);
		sched_io_loop(s);
		pthread_mutex_lock(&sched_pool.lock);
		if (--sched_pool.busy == 0)
			pthread_cond_signal(&sched_pool.back);
	}
	pthread_mutex_unlock(&sched_pool.lock);
	return NULL;
}

/* ---- setting up and tearing down ---- */

/* The worker count a request means, as trart_set_threads reads it. */
static int
sched_resolve(int threads)
{
	long n = threads;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > TRART_MAX_THREADS ? TRART_MAX_THREADS : (int)n;
}

void *const *
trart_task_bufs(void *const *bufs, const TrartTask *task, void **local, int nlocal)
{
	int i;

	if (task->nview == 0)
		return bufs;
	/* only the entries the task uses: others may be changing meanwhile
	 * (a reload elsewhere sets its buffer's) */
	for (i = 0; i < task->nuse; i++)
		if (task->use[i] < nlocal)
			local[task->use[i]] = bufs[task->use[i]];
	for (i = 0; i < task->nview; i++)
		local[task->view[i].node] = (char *)bufs[task->view[i].buf] - task->view[i].begin;
	return local;
}

/* With pooled buffers: s's own copy of bufs, holding the caller's
 * (the first ncaller entries of bufs, where not pooled) and the
 * executor's: in arena mode every one at its planned offset; else none
 * yet, and the use counts that say when each goes back to the pool. */
static void
sched_init_bufs(Sched *s, const TrartTaskGraph *g, void *const *bufs)
{
	int ncaller = g->ncaller < g->nbufs ? g->ncaller : g->nbufs, b, t, i;

	s->pooled = g->pooled;
	s->nbufs = g->nbufs;
	s->bufs = sched_alloc((size_t)g->nbufs, sizeof *s->bufs);
	for (b = 0; b < ncaller && bufs; b++)
		if (!g->pooled[b])
			s->bufs[b] = bufs[b];
	if (g->arena > 0) {
		s->arena = trart_spill_begin(g);
		for (b = 0; b < g->nbufs; b++)
			if (g->pooled[b])
				s->bufs[b] = s->arena + g->offset[b];
		return;
	}
	if (s->comm) { /* on ranks a piece may arrive before its reader runs */
		for (b = 0; b < g->nbufs; b++)
			if (g->pooled[b] && !(s->bufs[b] = trart_pool_try(g->pooled[b])))
				trart_out_of_memory((double)g->pooled[b], "buffer %d", b);
		return;
	}
	s->uses = sched_alloc((size_t)g->nbufs, sizeof *s->uses);
	s->made = sched_alloc((size_t)g->nbufs, sizeof *s->made);
	for (b = 0; b < g->nbufs; b++) {
		atomic_init(&s->uses[b], 0);
		atomic_init(&s->made[b], false);
	}
	for (t = 0; t < g->ntasks; t++)
		for (i = 0; i < g->tasks[t].nuse; i++)
			atomic_fetch_add(&s->uses[g->tasks[t].use[i]], 1);
	pthread_mutex_init(&s->buflock, NULL);
}

/* On ranks, when a transport is installed with more than one. */
static void
sched_init_comm(Sched *s, const TrartTaskGraph *g)
{
	const TrartComm *c = trart_comm();

	if (!c || c->nranks <= 1)
		return;
	if (g->nranks != c->nranks)
		sched_fatal("placed for another number of ranks");
	s->comm = c;
	s->rank_devices = g->rank_devices;
}

static void
sched_init(Sched *s, const TrartTaskGraph *g, void *const *bufs,
           int threads, bool steal)
{
	int i;

	memset(s, 0, sizeof *s);
	s->tasks = g->tasks;
	s->ntasks = g->ntasks;
	sched_init_comm(s, g);
	if (g->pooled && g->ngpus == 0) /* (on GPUs, gpu.c holds the buffers) */
		sched_init_bufs(s, g, bufs);
	else
		s->bufs = (void **)bufs; /* only ever passed on as void *const * */
	s->steal = steal;
	s->nw = sched_resolve(threads);
	s->w = sched_alloc((size_t)s->nw, sizeof *s->w);
	s->pending = sched_alloc((size_t)s->ntasks, sizeof *s->pending);
	for (i = 0; i < s->ntasks; i++)
		atomic_init(&s->pending[i], s->tasks[i].npred);
	atomic_init(&s->left, s->ntasks);
	atomic_init(&s->nasleep, 0);
	pthread_mutex_init(&s->lock, NULL);
	if (s->comm)
		sched_ranks_plan(s);
	if (g->ngpus > 0) {
		s->gpu = trart_gpu_begin(g, s->bufs);
		s->ngpus = g->ngpus;
		s->nw = 1; /* the calling thread drives the GPUs */
	}
	for (i = 0; i < s->ntasks && !s->gpu; i++) /* (on GPUs, the GPU loop moves them) */
		s->io_on = s->io_on || sched_is_io(&s->tasks[i]);
	pthread_mutex_init(&s->io.lock, NULL);
	pthread_cond_init(&s->io_wake, NULL);
	atomic_init(&s->io.size, 0);
	atomic_init(&s->io_pending, 0);
	for (i = 0; i < s->nw; i++) {
		SchedWorker *w = &s->w[i];
		pthread_mutex_init(&w->q.lock, NULL);
		pthread_cond_init(&w->wake, NULL);
		atomic_init(&w->q.size, 0);
	}
}

/* Workers block the asynchronous signals, so the user's handlers keep
 * running on the user's threads; faults must stay deliverable. */
static void
sched_sigmask(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGABRT);
}

/* Makes sure workers 1 .. s->nw - 1 exist (run_lock held); when a
 * thread cannot be created, s gets fewer workers. New threads start at
 * the current generation, so the next run published is their first. */
static void
sched_start(Sched *s)
{
	sigset_t block, old;

	sched_sigmask(&block);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	pthread_mutex_lock(&sched_pool.lock);
	while (sched_pool.nthreads < s->nw) {
		int id = sched_pool.nthreads;
		sched_pool.seen[id] = sched_pool.gen;
		if (pthread_create(&sched_pool.thread[id], NULL, sched_thread,
		                   (void *)(intptr_t)id) != 0)
			break;
		sched_pool.nthreads++;
	}
	if (s->nw > sched_pool.nthreads)
		s->nw = sched_pool.nthreads;
	if (s->io_on && !sched_pool.io_exists) {
		sched_pool.io_seen = sched_pool.gen;
		sched_pool.io_exists = pthread_create(&sched_pool.io, NULL,
		                                      sched_io_thread, NULL) == 0;
	}
	s->io_on = s->io_on && sched_pool.io_exists; /* else workers run them */
	pthread_mutex_unlock(&sched_pool.lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void
trart_sched_stop(void)
{
	int i;

	pthread_mutex_lock(&sched_pool.run_lock);
	pthread_mutex_lock(&sched_pool.lock);
	sched_pool.stop = true;
	pthread_cond_broadcast(&sched_pool.start);
	pthread_mutex_unlock(&sched_pool.lock);
	for (i = 1; i < sched_pool.nthreads; i++)
		pthread_join(sched_pool.thread[i], NULL);
	if (sched_pool.io_exists)
		pthread_join(sched_pool.io, NULL);
	sched_pool.io_exists = false;
	sched_pool.nthreads = 1;
	sched_pool.stop = false;
	trart_spill_release();
	pthread_mutex_unlock(&sched_pool.run_lock);
}

/* Sizes each queue for the tasks homed on it (the I/O thread's for
 * the offloads and reloads, when it runs them) and queues the tasks
 * with no predecessors (before it is published: no worker looks yet). */
static void
sched_seed(Sched *s)
{
	int *count = sched_alloc((size_t)s->nw + 1, sizeof *count), i;

	for (i = 0; i < s->ntasks; i++) {
		bool io = s->io_on && sched_is_io(&s->tasks[i]);
		count[io ? s->nw : sched_home(s, i)]++;
	}
	for (i = 0; i < s->nw; i++)
		s->w[i].q.heap = sched_alloc((size_t)count[i], sizeof (int));
	s->io.heap = sched_alloc((size_t)count[s->nw], sizeof (int));
	free(count);
	for (i = 0; i < s->ntasks; i++)
		if (s->tasks[i].npred == 0 && (!s->here || s->here[i]))
			sched_release(s, i);
}

static void
sched_free(Sched *s, int nw_allocated)
{
	int i;

	for (i = 0; i < nw_allocated; i++) {
		pthread_mutex_destroy(&s->w[i].q.lock);
		pthread_cond_destroy(&s->w[i].wake);
		free(s->w[i].q.heap);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->io.lock);
	pthread_cond_destroy(&s->io_wake);
	free(s->io.heap);
	if (s->pooled && !s->arena) {
		/* a pooled buffer some task wrote but none listed in use (on
		 * ranks, every one) */
		for (i = 0; i < s->nbufs; i++)
			if (s->pooled[i])
				trart_pool_free(s->bufs[i]);
		if (!s->comm)
			pthread_mutex_destroy(&s->buflock);
		free(s->uses);
		free(s->made);
	}
	if (s->comm)
		sched_ranks_free(s);
	if (s->pooled)
		free(s->bufs);
	free(s->w);
	free(s->pending);
	free(s->rec);
}

/* ---- profiling ---- */

/* A task and when it started, for putting the trace in time order. */
typedef struct SchedStart {
	int64_t ns;
	int task;
} SchedStart;

static int
sched_by_start(const void *a, const void *b)
{
	const SchedStart *x = a, *y = b;

	if (x->ns != y->ns)
		return (x->ns > y->ns) - (x->ns < y->ns);
	return (x->task > y->task) - (x->task < y->task);
}

/* Adds to each worker's `copied` the blocks its tasks read that another
 * worker made: per task, its out_bytes once for every other worker that
 * ran one of its successors (the simulator's "bytes moved"). */
static void
sched_count_copies(Sched *s, TrartProfile *prof)
{
	int *seen = calloc((size_t)s->nw, sizeof *seen), t, i;

	if (!seen)
		return;
	for (t = 0; t < s->ntasks; t++) {
		int from = s->rec[t].worker;
		if (s->here && !s->here[t])
			continue;
		for (i = 0; i < s->tasks[t].nsucc && from >= 0; i++) {
			int u = s->tasks[t].succ[i], to = s->rec[u].worker;
			if ((s->here && !s->here[u]) || to == from || to < 0 ||
			    seen[to] == t + 1 || s->tasks[u].mem)
				continue; /* (< 0: the I/O thread's; and a memory task
				             reads no block) */
			seen[to] = t + 1;
			prof->workers[to].copied += s->tasks[t].out_bytes;
		}
	}
	free(seen);
}

static bool
sched_is_reload(const TrartTask *task)
{
	return task->mem && task->mem->kind == TRART_MEM_RELOAD;
}

/* How long the run's tasks were ready but for a reload: for each task
 * that a reload released, the time from when its other predecessors
 * had all completed (or the run began) to when its last reload did.
 * Measured from the records after the run, so that the run pays
 * nothing for it; 0 when out of memory. */
static int64_t
sched_reload_wait(Sched *s, int64_t start_ns)
{
	int64_t *other = calloc((size_t)s->ntasks, sizeof *other);
	int64_t *reload = calloc((size_t)s->ntasks, sizeof *reload), wait = 0;
	int t, i;

	for (t = 0; t < s->ntasks && other && reload; t++) {
		int64_t *done = sched_is_reload(&s->tasks[t]) ? reload : other;
		for (i = 0; i < s->tasks[t].nsucc; i++) {
			int u = s->tasks[t].succ[i];
			if (s->rec[t].end_ns > done[u])
				done[u] = s->rec[t].end_ns;
		}
	}
	for (t = 0; t < s->ntasks && other && reload; t++) {
		int64_t ready = other[t] > start_ns ? other[t] : start_ns;
		if (reload[t] > ready)
			wait += reload[t] - ready;
	}
	free(other);
	free(reload);
	return wait;
}

/* Hands the run's records and steals to the attached recorder. Out of
 * memory here loses the profile of this run, not the run. */
static void
sched_report(Sched *s, TrartProfile *prof, int64_t start_ns, int64_t end_ns)
{
	SchedStart *order;
	int i, n;

	if (trart_profile_workers(prof, s->ngpus > s->nw ? s->ngpus : s->nw) < 0)
		return;
	prof->graph_ns += end_ns - start_ns;
	prof->rank_sent += s->sent;
	prof->rank_received += s->received;
	prof->rank_nsent += s->nsent;
	prof->rank_nreceived += s->nreceived;
	if (s->gpu_stats.device) {
		prof->gpu_device = s->gpu_stats.device;
		prof->gpus = s->gpu_stats.ngpus;
		prof->gpu_h2d += s->gpu_stats.h2d;
		prof->gpu_d2h += s->gpu_stats.d2h;
		prof->gpu_d2d += s->gpu_stats.d2d;
		prof->gpu_copies += s->gpu_stats.copies;
		prof->gpu_kernels += s->gpu_stats.kernels;
		prof->gpu_memory += s->gpu_stats.memory;
		prof->gpu_offloaded += s->gpu_stats.offloaded;
		prof->gpu_reloaded += s->gpu_stats.reloaded;
		if (s->gpu_stats.kernel_s >= 0) {
			if (prof->gpu_timed == 0 || s->gpu_stats.kernel_s < prof->gpu_kernel_min_s)
				prof->gpu_kernel_min_s = s->gpu_stats.kernel_s;
			prof->gpu_kernel_s += s->gpu_stats.kernel_s;
			prof->gpu_timed++;
		}
	}
	if (s->arena)
		prof->reload_wait_ns += sched_reload_wait(s, start_ns);
	for (i = 0; i < s->nw; i++)
		prof->workers[i].steals += s->w[i].steals;
	sched_count_copies(s, prof);
	order = malloc((size_t)s->ntasks * sizeof *order);
	if (!order)
		return;
	n = 0;
	for (i = 0; i < s->ntasks; i++)
		if (!s->here || s->here[i])
			order[n++] = (SchedStart){s->rec[i].start_ns, i};
	qsort(order, (size_t)n, sizeof *order, sched_by_start);
	for (i = 0; i < n; i++) {
		const SchedRecord *r = &s->rec[order[i].task];
		trart_profile_task(prof, s->tasks, order[i].task, r->worker,
		                   r->start_ns, r->end_ns, r->mem);
	}
	free(order);
}

/* ---- GPUs (the protocol is at the top) ---- */

/* The longest the GPU loop sleeps between looks at its events when
 * nothing happened (it starts at 1 us and doubles): short, since every
 * step of a GPU program waits for the loop to see its event (a copy's
 * end, a kernel's) and queue the next, and the GPU idles meanwhile. */
#define SCHED_GPU_NAP_NS 20000

static void
sched_nap(int64_t ns)
{
	struct timespec ts = {0, (long)ns};

	nanosleep(&ts, NULL);
}

/* Task t is done on the GPUs: recorded, and its successors released
 * (onto worker 0's queue, which the loop below takes from). */
static void
sched_gpu_done(Sched *s, int t)
{
	if (s->rec)
		s->rec[t].end_ns = trart_clock_ns();
	sched_complete(s, t);
}

/* The event loop of a graph on GPUs, on the calling thread: submits
 * each released task to its GPU (gpu.c queues its kernel or copies and
 * never waits), polls the GPUs' events, and releases the successors of
 * every task they report done; naps (1 us, doubling to
 * SCHED_GPU_NAP_NS) while nothing happens. Nothing queued, nothing in
 * flight and tasks left is a cycle. */
static void
sched_gpu_loop(Sched *s)
{
	int *done = sched_alloc((size_t)s->ntasks, sizeof *done), t, n, i;
	int64_t nap = 0;

	while (atomic_load(&s->left) > 0) {
		int moved = 0;
		while ((t = sched_pop(s, &s->w[0].q)) >= 0) {
			if (s->rec) { /* a GPU's track: from submit to done */
				s->rec[t].worker = s->tasks[t].device % s->ngpus;
				s->rec[t].start_ns = trart_clock_ns();
			}
			if (trart_gpu_submit(s->gpu, t))
				sched_gpu_done(s, t);
			moved++;
		}
		n = trart_gpu_poll(s->gpu, done);
		for (i = 0; i < n; i++)
			sched_gpu_done(s, done[i]);
		if (moved + n > 0) {
			nap = 0;
			continue;
		}
		if (trart_gpu_in_flight(s->gpu) == 0 && atomic_load(&s->left) > 0)
			sched_stuck(s);
		nap = nap ? (nap * 2 < SCHED_GPU_NAP_NS ? nap * 2 : SCHED_GPU_NAP_NS) : 1000;
		sched_nap(nap);
	}
	free(done);
}

/* ---- the public interface ---- */

/* Runs the graph on s's workers, the calling thread as worker 0
 * (run_lock held), and returns when every task is done and every worker
 * that joined the run is back. */
static void
sched_execute(Sched *s)
{
	bool comm;

	if (s->gpu) {
		sched_seed(s);
		sched_gpu_loop(s);
		trart_gpu_end(s->gpu, &s->gpu_stats);
		s->gpu = NULL;
		return;
	}
	sched_start(s);
	sched_seed(s);
	comm = s->comm && !s->done;
	if (comm && !sched_comm_start(s))
		sched_fatal("cannot create the thread that moves blocks between ranks");
	pthread_mutex_lock(&sched_pool.lock);
	sched_pool.run = s;
	sched_pool.nw = s->nw;
	sched_pool.gen++;
	sched_pool.open = true;
	sched_pool.busy = 0;
	pthread_cond_broadcast(&sched_pool.start);
	pthread_mutex_unlock(&sched_pool.lock);
	sched_loop(s, 0);
	pthread_mutex_lock(&sched_pool.lock);
	sched_pool.open = false;
	while (sched_pool.busy > 0)
		pthread_cond_wait(&sched_pool.back, &sched_pool.lock);
	pthread_mutex_unlock(&sched_pool.lock);
	if (comm)
		pthread_join(s->comm_thread, NULL);
}

void
trart_run_tasks(const TrartTaskGraph *g, void *const *bufs, int threads,
                bool steal)
{
	TrartProfile *prof = trart_exec_profiling();
	int self = sched_self, blas, nw;
	bool was_inline = trart_exec_inline();
	int64_t start;
	Sched s;

	if (!g)
		sched_fatal("no graph");
	sched_check(g);
	if (g->ntasks == 0)
		return;
	pthread_mutex_lock(&sched_pool.run_lock);
	{
		const char *shuffle = getenv("TRART_SHUFFLE");
		sched_shuffle = shuffle ? strtoull(shuffle, NULL, 10) : 0;
	}
	sched_init(&s, g, bufs, threads, steal);
	nw = s.nw;
	if (prof)
		s.rec = sched_alloc((size_t)s.ntasks, sizeof *s.rec);
	blas = trart_exec_blas_threads(1);
	sched_self = 0;
	trart_exec_set_inline(true);
	start = trart_clock_ns();
	sched_execute(&s);
	if (prof)
		sched_report(&s, prof, start, trart_clock_ns());
	trart_exec_set_inline(was_inline);
	sched_self = self;
	trart_exec_blas_threads(blas);
	sched_free(&s, nw);
	pthread_mutex_unlock(&sched_pool.run_lock);
}
