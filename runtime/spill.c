/* spill.c: the memory a planned task graph lives in: its arena, its
 * spill file, and the memory tasks that move buffers between the two.
 *
 * When the compiler plans a task graph's memory (compiler/memgraph.c,
 * TURNIP's memgraph), every buffer the executor provides lives at a
 * planned offset of one arena (TrartTaskGraph.arena, .offset), and a
 * buffer that cannot stay there for its whole life goes to disk in
 * between: an OFFLOAD task writes its bytes to its slot of the spill
 * file, and a RELOAD task reads them back, to an offset that may differ
 * from where the buffer was, and points the buffer there for its later
 * users. ALLOC and FREE tasks move nothing: they exist for the edges
 * they carry (a region's next occupant is written only after the users
 * of its last one are done). The plan makes all four ordinary rows of
 * the task table (fn = trart_mem_task), ordered by edges, so the
 * executor (sched.c) runs them like block kernels and keeps no
 * bookkeeping of its own.
 *
 * The arena is allocated once and kept: a program run with --repeat,
 * or a library function called in a loop, runs the same graph again
 * and again, and fresh memory would cost its page faults every time. A
 * larger graph replaces it with a larger one. It is counted in the
 * runtime's memory (the peak --stats prints) and freed by
 * trart_shutdown. Where no block moves (spill_moves), the arena is
 * aligned to TRART_HUGE_PAGE and asks for transparent huge pages
 * (MADV_HUGEPAGE: this kernel's default is "madvise"), so the first run
 * faults its intermediates in 2 MiB at a time, not 4 KiB: W3's first run
 * (1 GB of scores and exponentials) took 2.35 and 2.21 s with small
 * pages, 1.26 and 0.96 s with huge ones; the later runs, 0.28-0.30 s,
 * did not change. A graph that moves blocks keeps small pages:
 * spill_give_back returns one block's pages at a time.
 *
 * The spill file is created before the first run that needs one, in the
 * directory --spill-dir names (trart_set_spill_dir), else $TMPDIR, else
 * /tmp, by mkstemp, and unlinked at once: from then on it has no name,
 * so it cannot outlive the process however that ends (an error, a
 * signal, SIGKILL), and its blocks go back to the file system when the
 * descriptor closes (trart_shutdown). The bytes the plan's offloads need
 * are reserved with posix_fallocate before anything is computed, so a
 * full disk is found before a long computation rather than in its
 * middle (where the file system cannot reserve, the file is only
 * sized, and a full disk shows at the first write).
 *
 * Errors here cannot be handed back: a task's fn returns nothing, and
 * the other workers are mid-task. So they end the program the way
 * running out of memory does (trart_fatal, pool.c): one line, exit
 * status 1, and no output file written, since outputs are written after
 * the computation:
 *
 *   prog: error: writing 1.2 MB of tensor H to the spill file in /tmp: No space left on device
 *
 * Inputs and outputs out of core. A plan may keep an input or output
 * tensor too large for memory in its file, and hold only some blocks of
 * it at a time: READ and DROP bracket an input block's residency, CLAIM
 * and WRITE an output block's, and the plan accounts the block at a room
 * of the arena meanwhile (offset: the room, bytes and spill: the block's
 * byte range in the tensor's data). The block's bytes are not copied
 * there: the tensor's buffer is a mapping of its file that the runtime
 * made (mapped.c; trart_main maps --input files MAP_PRIVATE read-only,
 * and staged output files MAP_SHARED), and the four only advise the
 * kernel:
 *
 *   READ   the room's whole pages go back to the system (MADV_DONTNEED);
 *          the block's pages are brought in (MADV_WILLNEED, then
 *          MADV_POPULATE_READ, or a read of one byte per page where the
 *          kernel lacks it), so that its kernels do not wait on faults
 *   DROP   the block's pages, rounded outward, are let go: a page that a
 *          neighbouring block still needs is faulted in again from the
 *          file, since the mapping is private and read-only
 *   CLAIM  the room's whole pages go back, as READ's do
 *   WRITE  the block's pages, rounded outward, are written to the file
 *          (msync MS_SYNC) and then let go; a page shared with a block
 *          still being written is written again by that block's WRITE
 *
 * A buffer that is not such a mapping (a library caller's memory, an
 * input given by --random, a file that could not be mapped) is left
 * alone: MADV_DONTNEED on it would zero the caller's data. A failed
 * msync ends the program as a failed offload does, naming the output
 * file as the user gave it:
 *
 *   prog: error: writing 1.2 MB of output Y to y.npy: No space left on device
 *
 * The counts (bytes and blocks offloaded and reloaded, read and
 * written, the largest arena) are atomics, since memory tasks run on any worker; --stats
 * prints them (trace.c) and tests compare them with the plan.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */

#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#define SPILL_ALIGN 64          /* the arena's alignment and padding, as
                                   the pool's buffers have */
#define SPILL_CHUNK (1L << 30)  /* the most one pread or pwrite moves */
#define SPILL_NAME "/trac-spill-XXXXXX" /* the file, in its directory */

/* The arena and the spill file: set up and released under sched.c's
 * run_lock (one run at a time), read by the run's memory tasks, which
 * start after the run is published. */
static struct {
	char *base;       /* the arena, or NULL */
	int64_t size;     /* its bytes */
	int fd;           /* the spill file (unlinked), or -1 */
	int64_t reserved; /* bytes reserved in it */
	char *dir;        /* the directory it was made in, for messages */
} spill = {.fd = -1};

/* trart_set_spill_dir's directory, or NULL. */
static const char *spill_dir;

static atomic_llong spill_arena;     /* the largest arena a run used */
static atomic_llong spill_offloaded; /* bytes written to the file */
static atomic_llong spill_offloads;  /* ... in this many blocks */
static atomic_llong spill_reloaded;  /* bytes read back */
static atomic_llong spill_reloads;   /* ... in this many blocks */
static atomic_llong spill_read;      /* bytes of input files brought in */
static atomic_llong spill_reads;     /* ... in this many blocks */
static atomic_llong spill_written;   /* bytes of output files written */
static atomic_llong spill_writes;    /* ... in this many blocks */

void
trart_set_spill_dir(const char *dir)
{
	spill_dir = dir;
}

void
trart_spill_stats(TrartSpillStats *st)
{
	st->arena = atomic_load(&spill_arena);
	st->offloaded = atomic_load(&spill_offloaded);
	st->offloads = atomic_load(&spill_offloads);
	st->reloaded = atomic_load(&spill_reloaded);
	st->reloads = atomic_load(&spill_reloads);
	st->read = atomic_load(&spill_read);
	st->reads = atomic_load(&spill_reads);
	st->written = atomic_load(&spill_written);
	st->writes = atomic_load(&spill_writes);
}

/* ---- the arena ---- */

static void
spill_free_arena(void)
{
	if (!spill.base)
		return;
	free(spill.base);
	trart_mem_account(-(double)spill.size);
	spill.base = NULL;
	spill.size = 0;
}

/* Whether g moves blocks: a memory task other than the bookkeeping of
 * ALLOC and FREE (offloads, reloads, and out-of-core inputs and outputs,
 * whose READ and CLAIM give arena pages back). */
static bool
spill_moves(const TrartTaskGraph *g)
{
	int t;

	for (t = 0; t < g->ntasks; t++)
		if (g->tasks[t].mem && g->tasks[t].mem->kind != TRART_MEM_ALLOC &&
		    g->tasks[t].mem->kind != TRART_MEM_FREE)
			return true;
	return false;
}

/* Makes the arena at least g's bytes long, padded to SPILL_ALIGN so that
 * kernels may use aligned vector loads up to the padded end of the
 * buffer planned last; in huge pages where g moves no block (a run that
 * keeps the arena looks at no task). */
static void
spill_get_arena(const TrartTaskGraph *g)
{
	int64_t bytes = g->arena;
	int64_t size = (bytes + SPILL_ALIGN - 1) / SPILL_ALIGN * SPILL_ALIGN;
	size_t align;
	void *p;

	if (bytes > atomic_load(&spill_arena))
		atomic_store(&spill_arena, bytes);
	if (spill.base && spill.size >= size)
		return;
	spill_free_arena();
	align = size >= (int64_t)TRART_HUGE_PAGE && !spill_moves(g) ? TRART_HUGE_PAGE : SPILL_ALIGN;
	if (size < bytes || (uint64_t)size > SIZE_MAX ||
	    !(p = trart_memalign(align, (size_t)size)))
		trart_out_of_memory((double)bytes, "the arena of the "
		                    "intermediate tensors");
	spill.base = p;
	spill.size = size;
	trart_mem_account((double)size);
}

/* ---- the spill file ---- */

/* The directory the spill file goes in. */
static const char *
spill_where(void)
{
	const char *dir = spill_dir ? spill_dir : getenv("TMPDIR");

	return dir && dir[0] ? dir : "/tmp";
}

/* Creates the spill file in its directory and unlinks it at once. */
static void
spill_create(void)
{
	const char *dir = spill_where();
	size_t len = strlen(dir) + sizeof SPILL_NAME;
	char *path = malloc(len);
	int fd, err;

	spill.dir = strdup(dir);
	if (!path || !spill.dir)
		trart_out_of_memory((double)len, "the spill file's name");
	snprintf(path, len, "%s" SPILL_NAME, dir);
	fd = mkstemp(path);
	if (fd < 0) {
		err = errno;
		trart_fatal("cannot create a spill file in %s: %s", dir, strerror(err));
	}
	if (unlink(path) != 0) {
		err = errno;
		close(fd);
		trart_fatal("cannot remove the spill file %s: %s", path, strerror(err));
	}
	free(path);
	/* a program that runs another (library mode) does not pass it on */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	/* Past a file size limit (ulimit -f), the kernel would kill the
	 * process with SIGXFSZ in the middle of an offload; ignored, the
	 * write fails with EFBIG instead, and that is the one-line error. */
	signal(SIGXFSZ, SIG_IGN);
	spill.fd = fd;
}

/* Reserves bytes of the spill file, so that a full disk shows now. */
static void
spill_reserve(int64_t bytes)
{
	char size[32];
	int err = EFBIG;

	if ((int64_t)(off_t)bytes == bytes) {
		err = posix_fallocate(spill.fd, 0, (off_t)bytes);
		/* a file system that cannot reserve: the file is only sized */
		if (err == EOPNOTSUPP || err == EINVAL)
			err = ftruncate(spill.fd, (off_t)bytes) == 0 ? 0 : errno;
	}
	if (err != 0)
		trart_fatal("cannot reserve %s for the spill file in %s: %s",
		            trart_size_text(size, sizeof size, (double)bytes),
		            spill.dir, strerror(err));
	spill.reserved = bytes;
}

char *
trart_spill_begin(const TrartTaskGraph *g)
{
	spill_get_arena(g);
	if (g->spill > 0 && spill.fd < 0)
		spill_create();
	if (g->spill > spill.reserved)
		spill_reserve(g->spill);
	return spill.base;
}

void
trart_spill_release(void)
{
	spill_free_arena();
	if (spill.fd >= 0)
		close(spill.fd);
	spill.fd = -1;
	spill.reserved = 0;
	free(spill.dir);
	spill.dir = NULL;
}

/* ---- the memory tasks ---- */

/* Moves bytes between p and the spill file at off, writing (pwrite) or
 * reading (pread), over short transfers and interruptions. Returns 0,
 * or an errno value: a write that moves nothing without one is a full
 * disk (ENOSPC); a read that finds the end, which the reservation rules
 * out, an I/O error. */
static int
spill_io(bool writing, char *p, int64_t bytes, int64_t off)
{
	while (bytes > 0) {
		size_t n = bytes > SPILL_CHUNK ? (size_t)SPILL_CHUNK : (size_t)bytes;
		ssize_t done;
		errno = 0;
		done = writing ? pwrite(spill.fd, p, n, (off_t)off)
		               : pread(spill.fd, p, n, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return errno ? errno : writing ? ENOSPC : EIO;
		p += done;
		off += done;
		bytes -= done;
	}
	return 0;
}

/* Ends the program: moving op's bytes of tensor name failed with err. */
static _Noreturn void
spill_failed(const TrartMemOp *op, const char *name, int err)
{
	char size[32];
	bool writing = op->kind == TRART_MEM_OFFLOAD;

	trart_fatal("%s %s of tensor %s %s the spill file in %s: %s",
	            writing ? "writing" : "reading",
	            trart_size_text(size, sizeof size, (double)op->bytes),
	            name ? name : "?", writing ? "to" : "from", spill.dir,
	            strerror(err));
}

/* ---- inputs and outputs out of core ---- */

/* The system's page size. */
static uintptr_t
spill_page(void)
{
	static _Atomic uintptr_t page;
	uintptr_t p = atomic_load(&page);

	if (p == 0) {
		long n = sysconf(_SC_PAGESIZE);
		p = n > 0 ? (uintptr_t)n : 4096;
		atomic_store(&page, p);
	}
	return p;
}

/* Gives back to the system the whole pages strictly inside the arena
 * room of op's block: the block lives in its file's pages instead. */
static void
spill_give_back(const TrartMemOp *op)
{
	uintptr_t page = spill_page(), lo, hi;
	int64_t room = (op->bytes + SPILL_ALIGN - 1) / SPILL_ALIGN * SPILL_ALIGN;

	if (!spill.base || op->offset < 0 || op->offset + room > spill.size)
		return;
	lo = ((uintptr_t)spill.base + (uintptr_t)op->offset + page - 1) & ~(page - 1);
	hi = ((uintptr_t)spill.base + (uintptr_t)(op->offset + room)) & ~(page - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* The block of op in its tensor's mapping, rounded outward to pages,
 * into *lo and *len; false when bufs[op->buf] is not a mapping the
 * runtime made, which the four operations leave alone. A block past the
 * end of its file is a malformed plan. */
static bool
spill_file_block(void *const *bufs, const TrartTask *task, char **lo,
                 size_t *len)
{
	const TrartMemOp *op = task->mem;
	uintptr_t page = spill_page(), start, end;
	size_t left = 0;

	if (!bufs[op->buf] || !trart_mapped_find(bufs[op->buf], &left))
		return false;
	if ((uint64_t)op->spill > left || (uint64_t)op->bytes > left - (uint64_t)op->spill)
		trart_fatal("task graph: a block of tensor %s (%lld bytes at %lld) "
		            "reaches past the end of its data (%zu bytes)",
		            task->name ? task->name : "?", (long long)op->bytes,
		            (long long)op->spill, left);
	start = (uintptr_t)bufs[op->buf] + (uintptr_t)op->spill;
	end = start + (uintptr_t)op->bytes;
	*lo = (char *)(start & ~(page - 1));
	*len = ((end + page - 1) & ~(page - 1)) - (start & ~(page - 1));
	return true;
}

/* Brings the len bytes at lo (whole pages) in: one fault per page now,
 * where the kernel cannot populate them in one call. */
static void
spill_populate(char *lo, size_t len)
{
	uintptr_t page = spill_page();
	size_t at;

	madvise(lo, len, MADV_WILLNEED);
#ifdef MADV_POPULATE_READ
	if (madvise(lo, len, MADV_POPULATE_READ) == 0)
		return;
#endif
	for (at = 0; at < len; at += page)
		(void)*(volatile const char *)(lo + at);
}

/* READ: the room's pages go back; the block's come in from its file. */
static void
spill_read_block(void *const *bufs, const TrartTask *task)
{
	const TrartMemOp *op = task->mem;
	char *lo;
	size_t len;

	if (!spill_file_block(bufs, task, &lo, &len))
		return;
	spill_give_back(op);
	spill_populate(lo, len);
	atomic_fetch_add(&spill_read, op->bytes);
	atomic_fetch_add(&spill_reads, 1);
}

/* DROP: the block's pages go; a neighbour's are faulted in again. */
static void
spill_drop_block(void *const *bufs, const TrartTask *task)
{
	char *lo;
	size_t len;

	if (spill_file_block(bufs, task, &lo, &len))
		madvise(lo, len, MADV_DONTNEED);
}

/* CLAIM: the room's pages go back; the block is written in its file's. */
static void
spill_claim_block(void *const *bufs, const TrartTask *task)
{
	char *lo;
	size_t len;

	if (spill_file_block(bufs, task, &lo, &len))
		spill_give_back(task->mem);
}

/* WRITE: the block's pages go to the file, then from memory. */
static void
spill_write_block(void *const *bufs, const TrartTask *task)
{
	const TrartMemOp *op = task->mem;
	const char *file;
	char *lo, size[32];
	size_t len;

	if (!spill_file_block(bufs, task, &lo, &len))
		return;
	if (msync(lo, len, MS_SYNC) != 0) {
		int err = errno;
		file = trart_mapped_find(bufs[op->buf], NULL);
		trart_fatal("writing %s of output %s to %s: %s",
		            trart_size_text(size, sizeof size, (double)op->bytes),
		            task->name ? task->name : "?", file ? file : "?",
		            strerror(err));
	}
	madvise(lo, len, MADV_DONTNEED);
	atomic_fetch_add(&spill_written, op->bytes);
	atomic_fetch_add(&spill_writes, 1);
}

void
trart_mem_task(void *const *bufs, const TrartTask *task)
{
	const TrartMemOp *op = task->mem;
	char *to;
	int err;

	if (!op)
		return;
	switch (op->kind) {
	case TRART_MEM_READ:
		spill_read_block(bufs, task);
		return;
	case TRART_MEM_DROP:
		spill_drop_block(bufs, task);
		return;
	case TRART_MEM_CLAIM:
		spill_claim_block(bufs, task);
		return;
	case TRART_MEM_WRITE:
		spill_write_block(bufs, task);
		return;
	case TRART_MEM_OFFLOAD:
		err = spill_io(true, bufs[op->buf], op->bytes, op->spill);
		if (err)
			spill_failed(op, task->name, err);
		atomic_fetch_add(&spill_offloaded, op->bytes);
		atomic_fetch_add(&spill_offloads, 1);
		return;
	case TRART_MEM_RELOAD:
		to = spill.base + op->offset;
		err = spill_io(false, to, op->bytes, op->spill);
		if (err)
			spill_failed(op, task->name, err);
		/* bufs is the executor's own copy for this run (sched.c, arena
		 * mode), not the caller's, so it may be written. No task reads
		 * this entry meanwhile: every later user of the buffer depends
		 * on this reload through the graph's edges (and sees the new
		 * address through them), and every earlier user precedes the
		 * offload this reload depends on. */
		((void **)bufs)[op->buf] = to;
		atomic_fetch_add(&spill_reloaded, op->bytes);
		atomic_fetch_add(&spill_reloads, 1);
		return;
	default: /* ALLOC, FREE: the order their edges impose is all */
		return;
	}
}
