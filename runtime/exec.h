/* exec.h: the runtime's internal interface between the command line
 * (cli.c), the executor (exec.c) and the profiler (trace.c). Not part of
 * trart.h: generated programs and library users never see it.
 *
 * Profiling is a recorder that the executor fills while it runs: cli.c
 * sets one up for --trace and --stats, hands it to the executor with
 * trart_exec_profile, and afterwards asks trace.c to write it out as a
 * Chrome/Perfetto trace or a table. When no recorder is attached the
 * executor does not even read the clock, so an ordinary run pays nothing.
 */
#ifndef TRART_EXEC_H
#define TRART_EXEC_H

#include "trart.h"

#include <stdio.h>

/* libtrart is also a shared library: these functions are for its own
 * files, not part of what it exports. */
#if defined(__GNUC__) && !defined(_WIN32)
#define TRART_INTERNAL __attribute__((visibility("hidden")))
#else
#define TRART_INTERNAL
#endif

/* The most worker threads the runtime starts: more is a typo (--threads
 * 10000), not a machine. Larger requests are clamped to it. */
#define TRART_MAX_THREADS 1024

/* The trace track of the task executor's I/O thread (sched.c), past
 * every worker's. */
#define TRART_IO_TRACK (TRART_MAX_THREADS + 1)

/* One kernel or task run, for the trace. */
typedef struct TrartEvent {
	int kernel;       /* index into the program's kernels (-1: a task) */
	int64_t start_ns; /* when it began, from TrartProfile.origin_ns */
	int64_t dur_ns;   /* how long it ran */
	int tid;          /* its trace track: 1 for kernels, worker + 1 for
	                     tasks (worker 0 is the calling thread),
	                     TRART_IO_TRACK for the I/O thread's */
	const TrartTask *task; /* the task run, or NULL for a kernel */
	int index;        /* a task's index in the table the executor ran
	                     (TrartTaskGraph.tasks), which is the compiler's
	                     task id, so that a trace can be matched to the
	                     task graph it measured; -1 for a kernel */
	double mem;       /* a task's: the runtime's live bytes once it and
	                     the frees it allowed were done */
} TrartEvent;

/* One worker of trart_run_tasks, summed over every run, for --stats. */
typedef struct TrartWorkerStats {
	int64_t tasks;   /* tasks it ran */
	int64_t steals;  /* of those, taken from another worker's queue */
	int64_t busy_ns; /* time inside their block kernels */
	double flops;    /* their floating-point operations */
	double copied;   /* bytes of blocks made on another worker that its
	                    tasks read, each block once per worker */
} TrartWorkerStats;

/* What the executor records while a profile is attached. */
typedef struct TrartProfile {
	const TrartProgram *p; /* the program whose kernels are indexed */
	int64_t origin_ns;     /* the clock at trart_profile_init: trace time 0 */
	int64_t *calls;        /* per kernel: how many times it ran */
	int64_t *total_ns;     /* per kernel: the time it ran, all calls */
	TrartEvent *events;    /* kernel runs in order, for --trace */
	size_t nevents;        /* events recorded */
	size_t cap;            /* events there is room for (0: no trace) */
	size_t dropped;        /* runs past cap, not in events */
	TrartWorkerStats *workers; /* per worker of trart_run_tasks (NULL
	                              until a task graph runs) */
	int nworkers;          /* entries in workers */
	int64_t graph_ns;      /* wall time inside trart_run_tasks, all runs */
	int64_t reload_wait_ns; /* time tasks were ready but for a reload
	                           (sched.c says how it is measured), all runs */
	bool io_ran;           /* the I/O thread ran tasks: its track is named */
	double rank_sent;      /* on ranks: bytes of pieces this rank sent ... */
	double rank_received;  /* ... and received, all runs */
	int64_t rank_nsent;    /* how many pieces it sent ... */
	int64_t rank_nreceived; /* ... and received */
	const char *gpu_device; /* on GPUs (gpu.h): what they are, or NULL */
	int gpus;              /* how many */
	double gpu_h2d, gpu_d2h, gpu_d2d; /* bytes copied host to GPU, GPU to
	                          host, between GPUs, all runs */
	int64_t gpu_copies, gpu_kernels; /* copies and kernels, all runs */
	double gpu_memory;     /* bytes of the GPUs' arenas, all runs */
	double gpu_offloaded, gpu_reloaded; /* bytes to and from pinned host
	                          memory, all runs */
	int gpu_timed;         /* runs whose kernels the device timed ... */
	double gpu_kernel_s, gpu_kernel_min_s; /* ... their seconds in kernels,
	                          all of them and the least of a run */
} TrartProfile;

/* exec.c */

/* Attaches a recorder to the executor (NULL detaches): every kernel run
 * by trart_execute is timed and added to it. */
TRART_INTERNAL void trart_exec_profile(TrartProfile *prof);

/* The attached recorder, or NULL: trart_run_tasks records into it too. */
TRART_INTERNAL TrartProfile *trart_exec_profiling(void);

/* Whether trart_parallel_for on the calling thread always runs inline:
 * set on trart_run_tasks' workers, whose parallelism is the tasks. */
TRART_INTERNAL void trart_exec_set_inline(bool on);
TRART_INTERNAL bool trart_exec_inline(void);

/* Sets OpenBLAS's thread count to n, calling OpenBLAS only if it is
 * not n already; returns the count it was (to put back after). */
TRART_INTERNAL int trart_exec_blas_threads(int n);

/* Stops OpenBLAS's threads, idle in a program whose kernels are block
 * tasks (each calls OpenBLAS on one thread) but spinning for a while
 * after OpenBLAS starts them (exec.c says why this matters). Only for a
 * standalone program (cli.c): in a library, the caller may use them. */
TRART_INTERNAL void trart_exec_idle_blas(void);

/* Where OpenBLAS fell back to its oldest kernels (Prescott, or
 * TRART_BLAS_FALLBACK's for tests) on a CPU with AVX2, and
 * OPENBLAS_CORETYPE is unset: sets it from the CPU's features and
 * executes the program again with argv (exec.c says why); otherwise, or
 * if that fails, returns. Once per process, before anything else runs:
 * a standalone program only (cli.c, mpi.c before MPI_Init). */
TRART_INTERNAL void trart_exec_blas_kernels(char **argv);

/* Prints "blas: OpenBLAS, CORE kernels", and whether the program chose
 * them, to f (--stats); nothing for another BLAS. */
TRART_INTERNAL void trart_exec_blas_describe(FILE *f);

/* sched.c */

/* The n tasks in an order where each comes after its predecessors
 * (Kahn's; malloc'd); a cycle ends the program. */
TRART_INTERNAL int *trart_topo_order(const TrartTask *tasks, int n);

/* The bytes of piece pc's box. */
TRART_INTERNAL double trart_piece_bytes(const TrartPiece *pc);

/* Ends the task executor's worker threads and lets go of the arena and
 * the spill file (trart_shutdown); the next trart_run_tasks starts them
 * again. */
TRART_INTERNAL void trart_sched_stop(void);

/* spill.c */

/* What the memory tasks moved, over every run since the process began. */
typedef struct TrartSpillStats {
	int64_t arena;     /* bytes of the largest arena a run used */
	int64_t offloaded; /* bytes written to the spill file */
	int64_t offloads;  /* blocks written: offload tasks run */
	int64_t reloaded;  /* bytes read back from it */
	int64_t reloads;   /* blocks read back: reload tasks run */
	int64_t read;      /* bytes of input files brought in (READ tasks) */
	int64_t reads;     /* ... in this many blocks */
	int64_t written;   /* bytes of output files written back (WRITE) */
	int64_t writes;    /* ... in this many blocks */
} TrartSpillStats;

/* Readies what a graph with an arena needs before it runs (run_lock
 * held): the arena, of g->arena bytes at least, and, when g->spill > 0,
 * the spill file with g->spill bytes reserved. Returns the arena's
 * base, where the run's pooled buffers and its reloads go. A failure
 * ends the program (trart_out_of_memory, trart_fatal). */
TRART_INTERNAL char *trart_spill_begin(const TrartTaskGraph *g);

/* Frees the arena and closes the spill file (run_lock held). */
TRART_INTERNAL void trart_spill_release(void);

/* The counts so far, into st. */
TRART_INTERNAL void trart_spill_stats(TrartSpillStats *st);

/* mapped.c */

/* Maps the first size bytes of the file open on fd (read-only and
 * MAP_PRIVATE, or, when writable, read-write and MAP_SHARED: the
 * descriptor must then be open for both), padded past its end with
 * anonymous pages that kernels may touch, and records the mapping;
 * name is the file as messages should show it. Returns the file's first
 * byte, or NULL with errno set. The descriptor may be closed after. */
TRART_INTERNAL void *trart_map_file(int fd, size_t size, bool writable,
                                    const char *name);

/* Unmaps what trart_map_file returned, and forgets it. An output's
 * data is not synced first: msync it before, if it is to be kept. */
TRART_INTERNAL void trart_unmap_file(void *base);

/* The name of the file whose mapping p lies in (its file part, not its
 * padding), and in *left (may be NULL) the bytes from p to the mapped
 * file's end; NULL when p lies in none: the memory tasks that read and
 * write out of core touch nothing else. The name lives as long as the
 * mapping. */
TRART_INTERNAL const char *trart_mapped_find(const void *p, size_t *left);

/* pool.c */

/* Sets a function that trart_fatal, trart_out_of_memory and
 * trart_gather_fail call before they end the program (NULL: none), on
 * whichever thread fails, while others may be mid-task: files.c's
 * guard, which removes staged output files. It must not allocate,
 * lock or return to the failing code. */
TRART_INTERNAL void trart_set_fatal_hook(void (*hook)(void));

/* The program's name, for the messages below (NULL: "trart"). */
TRART_INTERNAL void trart_set_progname(const char *name);

/* Notes the tensor the calling thread is computing (NULL: none), for
 * the messages below; and asks it. */
TRART_INTERNAL void trart_mem_set_tensor(const char *tensor);
TRART_INTERNAL const char *trart_mem_tensor(void);

/* A byte count for messages: "512 bytes", "1.5 KB", "12.0 GB" (powers
 * of 1000), into buf; returns buf. */
TRART_INTERNAL const char *trart_size_text(char *buf, size_t size,
                                           double bytes);

/* Ends the program: "PROG: error: out of memory allocating SIZE for
 * WHAT" on stderr, WHAT formatted from fmt ("tensor H"), exit status 1. */
#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
TRART_INTERNAL _Noreturn void trart_out_of_memory(double bytes,
                                                  const char *fmt, ...);

/* Ends the program: "PROG: error: MESSAGE" on stderr, MESSAGE formatted
 * from fmt, exit status 1, as trart_out_of_memory does: for errors that
 * strike mid-run, where no caller could be handed them. */
#ifdef __GNUC__
__attribute__((format(printf, 1, 2)))
#endif
TRART_INTERNAL _Noreturn void trart_fatal(const char *fmt, ...);

/* trart_pool_alloc, but NULL when out of memory. */
TRART_INTERNAL void *trart_pool_try(size_t bytes);

#define TRART_HUGE_PAGE ((size_t)2 << 20) /* a transparent huge page */

/* size bytes aligned to align (a power of two, at least a pointer's
 * size); aligned to TRART_HUGE_PAGE, they ask for transparent huge pages
 * before their first touch (madvise: this kernel's default). NULL when
 * out of memory; free() frees them. Not counted (trart_mem_account). */
TRART_INTERNAL void *trart_memalign(size_t align, size_t size);

/* Counts bytes (negative: freed) as allocated by the runtime, for the
 * peak --stats prints; trart_pool_alloc counts its buffers itself. */
TRART_INTERNAL void trart_mem_account(double bytes);

/* The bytes the runtime has allocated now (pool buffers in use, and
 * what trart_mem_account counted). */
TRART_INTERNAL double trart_mem_live(void);

/* The most bytes the runtime had allocated at once so far. */
TRART_INTERNAL double trart_mem_peak(void);

/* The most bytes of pool buffers that tasks run by worker w had
 * allocated and not yet freed at once, over every run so far. */
TRART_INTERNAL double trart_mem_worker_peak(int w);

/* Gives the pool's free buffers back to the system (trart_shutdown). */
TRART_INTERNAL void trart_pool_trim(void);

/* files.c */

/* Writes a file's contents to f; returns 0, or -1 with errno set. */
typedef int (*TrartWriter)(FILE *f, const void *ctx);

/* Adds path to the set (label names it in messages), written by fill:
 * staged beside it, or written in place when it is not a regular file.
 * Returns 0, or -1 with "LABEL: PATH: reason" in err. */
TRART_INTERNAL int trart_files_add(TrartFiles *fs, const char *path,
                                   const char *label, TrartWriter fill,
                                   const void *ctx, char *err, size_t errlen);

/* Stages path as trart_files_add would, but as a file of hlen bytes
 * of header and then bytes of data that the caller writes in place,
 * through a shared mapping (mapped.c) whose data start it puts in *data
 * (64-byte aligned when hlen is a multiple of 64): the header written,
 * the file's blocks reserved (posix_fallocate, else ftruncate), so that
 * a full disk shows now, before anything is computed. trart_files_commit
 * syncs and unmaps it before it renames it. Returns 0; 1, adding
 * nothing, when path exists and is not a regular file (write it after,
 * with trart_files_add: a mapping cannot write /dev/null); or -1 with
 * "LABEL: PATH: reason" in err. */
TRART_INTERNAL int trart_files_map(TrartFiles *fs, const char *path,
                                   const char *label,
                                   const unsigned char *header, size_t hlen,
                                   size_t bytes, void **data, char *err,
                                   size_t errlen);

/* Until trart_files_unguard, removes the files fs has staged so far if
 * the program ends on a fatal error (trart_fatal and the like: the hook
 * of pool.c) or on SIGINT, SIGTERM or SIGHUP (those not ignored), which
 * then end it as they would have. For staged files that exist while a
 * run computes: mapped outputs. One set at a time: a second call while
 * one is guarded guards nothing and returns -1 (also when out of
 * memory); 0 when guarded. */
TRART_INTERNAL int trart_files_guard(TrartFiles *fs);

/* Restores the signal actions and the hook trart_files_guard(fs)
 * replaced; nothing when fs is not the guarded set (or NULL).
 * trart_files_free calls it, once it has removed what was staged. */
TRART_INTERNAL void trart_files_unguard(const TrartFiles *fs);

/* npy.c */

/* What the .npy file at path holds, from its header alone: its dtype
 * (one of the four the language has), rank and shape (TRART_MAX_RANK
 * entries of room). Returns 0, or -1 with trart_npy_read's kind of
 * message in err (a Fortran-order array is refused too). For tools that
 * read a file whose shape they do not know (tests/npycmp.c). */
TRART_INTERNAL int trart_npy_header(const char *path, const char *name,
                                    TrartDtype *dtype, int *rank,
                                    int64_t *shape, char *err, size_t errlen);

/* Formats a shape as Python's repr of a tuple into buf: "()", "(5,)",
 * "(3, 4)"; returns buf. */
TRART_INTERNAL const char *trart_npy_shape_text(char *buf, size_t size, int rank,
                                                const int64_t *shape);

/* Checks the .npy file at path as trart_npy_read does, failing with its
 * messages, but reads no data: sets *offset to where the data starts
 * and *bytes to its length. Returns 0; 1 when the file is not a regular
 * file or the host is big-endian, where the caller reads it with
 * trart_npy_read instead; -1 with the message in err. */
TRART_INTERNAL int trart_npy_locate(const char *path, const char *name,
                                    TrartDtype want, int rank,
                                    const int64_t *shape, size_t *offset,
                                    size_t *bytes, char *err, size_t errlen);

/* Stages path as a .npy file of the array (trart_files_npy's header and
 * messages), mapped: its data, which the caller computes in place, at
 * *data (trart_files_map). Returns 0, 1 (write it after with
 * trart_files_npy: not a regular file, or a big-endian host), or -1. */
TRART_INTERNAL int trart_files_map_npy(TrartFiles *fs, const char *path,
                                       const char *name, TrartDtype t,
                                       int rank, const int64_t *shape,
                                       void **data, char *err, size_t errlen);

/* trace.c */

/* The monotonic clock, in nanoseconds from an arbitrary origin. */
TRART_INTERNAL int64_t trart_clock_ns(void);

/* Sets up an empty recorder for p with room for max_events trace events
 * (0 when no trace is wanted; the per-kernel totals are always kept).
 * Returns 0, or -1 when out of memory, with prof left freeable. */
TRART_INTERNAL int trart_profile_init(TrartProfile *prof,
                                      const TrartProgram *p,
                                      size_t max_events);

/* Frees what trart_profile_init allocated. */
TRART_INTERNAL void trart_profile_free(TrartProfile *prof);

/* Records that kernel k ran from start_ns to end_ns (trart_clock_ns). */
TRART_INTERNAL void trart_profile_add(TrartProfile *prof, int k,
                                      int64_t start_ns, int64_t end_ns);

/* Makes room for n workers' stats (zeroed; existing entries are kept).
 * Returns 0, or -1 when out of memory, with prof unchanged. */
TRART_INTERNAL int trart_profile_workers(TrartProfile *prof, int n);

/* Records that task i of the table tasks (the graph's, which the
 * profile's program need not name) ran on worker w (< prof->nworkers;
 * -1: the I/O thread, which has no worker stats) from start_ns to
 * end_ns, leaving mem bytes live (trart_mem_live); its trace event is on
 * track w + 1 (TRART_IO_TRACK), with a memory counter at its end. */
TRART_INTERNAL void trart_profile_task(TrartProfile *prof, const TrartTask *tasks,
                                       int i, int w, int64_t start_ns,
                                       int64_t end_ns, double mem);

/* Stages the recorded events as Chrome trace-event JSON for path in fs.
 * Returns 0, or -1 with "trace: PATH: message" in err. */
TRART_INTERNAL int trart_files_trace(TrartFiles *fs, const TrartProfile *prof,
                                     const char *path, char *err,
                                     size_t errlen);

/* The same, as a set of its own, committed: whole or not at all. */
TRART_INTERNAL int trart_trace_write(const TrartProfile *prof,
                                     const char *path, char *err,
                                     size_t errlen);

/* Prints the --stats table to f: per kernel name its calls, time,
 * GFLOP/s and GB/s; then the totals, the bytes of all tensors and the
 * peak of the bytes the runtime had allocated; then, when task graphs
 * ran, per worker its tasks, steals, busy time, utilisation, GFLOP/s,
 * the bytes of blocks it read that another worker made (copied) and
 * the peak of the pool buffers its tasks allocated; and, when the
 * program's graph has an arena (or read or wrote out of core), one line
 * of what its memory tasks moved (trart_spill_stats: offloaded,
 * reloaded, and, when not 0, read from input files and written to
 * output files) and how long tasks waited for reloads. */
TRART_INTERNAL void trart_stats_print(const TrartProfile *prof, FILE *f,
                                      int runs, int threads,
                                      double tensor_bytes, double peak_bytes);

#endif /* TRART_EXEC_H */
