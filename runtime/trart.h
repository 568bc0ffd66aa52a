/* trart.h: the trac runtime library's public interface.
 *
 * libtrart is linked into every program trac generates, and the compiler
 * itself uses the same code for `trac --interpret`, so the two read and
 * write tensors, and draw random inputs, identically.
 *
 * Errors are reported through a caller-supplied buffer holding one line of
 * text (no trailing newline) that names the tensor and says what was
 * expected; functions return 0 on success and -1 on error. The line is
 * "NAME: PATH: what is wrong", where NAME is passed in already decorated
 * as the caller wants it ("input X", "output Y"). A buffer too small
 * truncates the line; a NULL buffer or errlen 0 drops it.
 */
#ifndef TRART_H
#define TRART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types a tensor may have. */
typedef enum TrartDtype {
	TRART_F32, /* little-endian IEEE single, NumPy '<f4' */
	TRART_F64, /* little-endian IEEE double, NumPy '<f8' */
} TrartDtype;

#define TRART_MAX_RANK 16 /* the most dimensions a tensor may have */
#define TRART_ERRLEN 512  /* a comfortable size for error buffers */

/* Bytes per element of a dtype. */
size_t trart_dtype_size(TrartDtype t);

/* Name of a dtype as the language spells it: "f32" or "f64". */
const char *trart_dtype_name(TrartDtype t);

/* npy.c */

/* Reads the .npy file at path into a freshly malloc'ed buffer *data that
 * the caller frees. The file must hold an array of exactly dtype `want`,
 * rank `rank` and dimensions `shape` (C order, little-endian; versions
 * 1.0, 2.0 and 3.0 headers); shape may be NULL when rank is 0. `name` is
 * the tensor's name as errors should show it:
 *   input X: x.npy: shape (3, 5) does not match the declared (4, 5)
 * A scalar (rank 0) also takes a one-element array of shape (1,), what
 * np.save writes for np.array([x]). Returns 0, or -1 with a one-line
 * message in err and *data NULL; a wrong dtype's message says how to
 * convert the array (".astype(np.float32)"). Any byte sequence is safe
 * to read. */
int trart_npy_read(const char *path, const char *name, TrartDtype want,
                   int rank, const int64_t *shape, void **data,
                   char *err, size_t errlen);

/* Writes a C-order array as a .npy file, byte for byte as NumPy's
 * np.save would (version 1.0 header, or 2.0 when the header does not fit
 * 1.0's limit). The file is written beside path and renamed onto it, so
 * it appears whole, with mode 0666 less the umask. Returns 0, or -1 with
 * a one-line message naming `name` and the path in err; on error no file
 * is left at path (an existing one is left as it was). */
int trart_npy_write(const char *path, const char *name, TrartDtype t,
                    int rank, const int64_t *shape, const void *data,
                    char *err, size_t errlen);

/* files.c */

/* The files a run writes, as one transaction: each is written beside its
 * destination under a fresh name, and renamed into place only by
 * trart_files_commit; trart_files_free removes whatever is still staged
 * and, unless the set was committed, every directory trart_files_make_dir
 * created. Generated programs and trac --interpret write their outputs
 * through it, so both word every failure the same way, naming the path
 * as the user gave it. */
typedef struct TrartFiles TrartFiles;

/* An empty set, or NULL when out of memory. */
TrartFiles *trart_files_new(void);

/* Checks that no two of the n destinations paths[i] (named labels[i]
 * in messages: "output Y") are one file, whatever their spelling
 * ("./y.npy", "d/../y.npy", a symlink); a destination that is not a
 * regular file (/dev/null) may be shared. Returns 0, or -1 with
 *   output X ('y.npy') and output Y ('./y.npy') name the same file; ...
 * in err. Run it before anything is read or written. */
int trart_files_distinct(int n, const char *const *labels,
                         const char *const *paths, char *err, size_t errlen);

/* mkdir -p dir, noting each directory it creates. Returns 0, or -1 with
 * "cannot create the output directory 'DIR': reason" in err. */
int trart_files_make_dir(TrartFiles *fs, const char *dir, char *err,
                         size_t errlen);

/* Stages path as a .npy file of the array, as trart_npy_write would
 * write it; name decorates messages ("output Y"). Returns 0, or -1 with
 * "NAME: PATH: reason" in err (the caller then frees the set). */
int trart_files_npy(TrartFiles *fs, const char *path, const char *name,
                    TrartDtype t, int rank, const int64_t *shape,
                    const void *data, char *err, size_t errlen);

/* Renames every staged file onto its destination. Returns 0, or -1 with
 * a message (files not yet renamed stay as they were). */
int trart_files_commit(TrartFiles *fs, char *err, size_t errlen);

/* Removes what is still staged and, unless committed, the directories
 * the set created (only if empty); frees the set. NULL is fine. */
void trart_files_free(TrartFiles *fs);

/* random.c */

/* Fills n elements of dtype t at data with uniform values in [-1, 1),
 * a pure function of (seed, name, element index): the same on every
 * machine, and independent of which other inputs the program has.
 * random.c states the algorithm; tests/trart_random.py reproduces it. */
void trart_random_fill(void *data, TrartDtype t, size_t n, uint64_t seed,
                       const char *name);

/* ---- programs: what trac generates, and the runtime runs ------------------- */

/* What a tensor is to the program. */
typedef enum TrartTensorKind {
	TRART_TEMP = 0,   /* an intermediate, allocated and freed by the runtime */
	TRART_INPUT = 1,  /* read from --input NAME=FILE.npy or --random */
	TRART_OUTPUT = 2, /* written to --output NAME=FILE.npy or DIR/NAME.npy */
	TRART_INOUT = 3,  /* an input that is also an output */
} TrartTensorKind;

/* A tensor of a generated program. */
typedef struct TrartTensor {
	const char *name;
	TrartDtype dtype;
	int rank;
	const int64_t *shape; /* rank entries (NULL for a scalar) */
	TrartTensorKind kind;
} TrartTensor;

/* A kernel: computes one tensor from others. bufs holds every tensor's
 * buffer, indexed like TrartProgram.tensors; the kernel knows which it
 * reads and writes. */
typedef void (*TrartKernelFn)(void *const *bufs);

typedef struct TrartKernel {
	const char *name; /* the TRA node it computes, for traces and stats */
	TrartKernelFn fn;
	int out;          /* the tensor it writes */
	double flops;     /* floating-point operations, for stats */
	double bytes;     /* bytes read and written, for stats */
} TrartKernel;

struct TrartTaskGraph;

/* A whole generated program: its tensors, and either its kernels in an
 * order that respects their dependencies, or a placed task graph of
 * block kernels that the event-driven executor runs (sched.c). */
typedef struct TrartProgram {
	const char *name;    /* the program's name, for --help and messages */
	const char *version; /* the trac version that generated it */
	int ntensors;
	const TrartTensor *tensors;
	int nkernels;
	const TrartKernel *kernels;
	const struct TrartTaskGraph *tasks; /* NULL: run the kernels in order */
} TrartProgram;

/* cli.c */

/* The generated program's main: parses the command line of LANGUAGE.md
 * (--input, --output, --output-dir, --random[=SEED], --threads N,
 * --repeat N, --time, --trace FILE.json, --stats, --help, --version),
 * reads the inputs, runs the kernels, writes the outputs. Returns the
 * exit status: 0, 1 for errors in data or I/O, 2 for usage errors. */
int trart_main(const TrartProgram *p, int argc, char **argv);

/* exec.c */

/* Runs every kernel of p once on bufs (one buffer per tensor, temps
 * included) with the given number of threads (0: all online cores).
 * Used by trart_main and by library mode. */
void trart_execute(const TrartProgram *p, void *const *bufs, int threads);

/* Splits the range [0, n) into chunks run on the runtime's worker
 * threads; body(lo, hi, ctx) handles [lo, hi). Runs inline when there is
 * one thread or little work. Kernels call it for their outer loops. */
void trart_parallel_for(int64_t n, void (*body)(int64_t lo, int64_t hi, void *ctx), void *ctx);

/* Sets the number of worker threads (and OpenBLAS's); 0 means the
 * number of online cores. */
void trart_set_threads(int threads);
int trart_threads(void);

/* Whether idle workers of a task graph steal ready tasks placed on other
 * workers (the default), or run only their own (--no-steal). */
void trart_set_steal(bool steal);

/* scratch.c */

/* Temporary memory for kernels (permuted GEMM operands): 64-byte
 * aligned; out of memory is a clean fatal error. */
void *trart_scratch(size_t bytes);
void trart_scratch_free(void *p);

/* pool.c */

/* Block buffers: a task graph's intermediate tensors and partial blocks.
 * 64-byte aligned, not zeroed; freed buffers are kept, by size class,
 * for the next request (until trart_shutdown). Thread-safe; out of
 * memory is a clean fatal error. trart_pool_free(NULL) does nothing. */
void *trart_pool_alloc(size_t bytes);
void trart_pool_free(void *p);

/* Stops the worker threads and frees the runtime's state (trart_main
 * calls it before returning; library users call it when done). */
void trart_shutdown(void);

/* sched.c */

/* Block task graphs: the form a program takes once its nodes are cut into
 * blocks. Each task computes one block of one TRA node; it may start when
 * the tasks it depends on have completed, and its completion releases
 * the tasks that depend on it. sched.c says how they are run. */

typedef struct TrartTask TrartTask;

/* A block kernel: computes block t of its node. bufs holds every
 * tensor's buffer, as a TrartKernelFn gets them; t->lo and t->hi say
 * which block. Runs on one worker thread: trart_parallel_for inside it
 * runs inline, and OpenBLAS is single-threaded meanwhile. */
typedef void (*TrartTaskFn)(void *const *bufs, const TrartTask *t);

struct TrartTask {
	TrartTaskFn fn;       /* the block kernel */
	const int64_t *lo;    /* the block's first index, per index of the
	                         node's join space (for fn; may be NULL) */
	const int64_t *hi;    /* one past its last, likewise */
	int ndim;             /* entries in lo and hi (for traces) */
	const char *name;     /* the TRA node it is a block of, for traces */
	int device;           /* placement (>= 0): runs on worker
	                         device % threads */
	double priority;      /* its b-level, the longest path from it to
	                         the end: of ready tasks, higher runs first
	                         (equal: lower index first) */
	int npred;            /* tasks that must complete before it starts:
	                         exactly how many list it in succ */
	int nsucc;            /* entries in succ */
	const int *succ;      /* indices of the tasks its completion releases */
	double flops;         /* floating-point operations, for traces, stats */
	double bytes;         /* bytes read and written, for traces, stats */
	/* Buffers, when the graph has pooled ones (else ignored): */
	int nuse;             /* entries in use (0: leaves and repartitions,
	                         which only order) */
	const int *use;       /* the buffers its kernel reads or writes: a
	                         pooled one is allocated before the first task
	                         that lists it runs, and freed after the last
	                         completes */
	double out_bytes;     /* bytes of the block it makes: what a reader
	                         on another worker takes from it, for stats */
};

/* A task graph: its tasks, referring to each other by index, and the
 * buffers the executor manages. */
typedef struct TrartTaskGraph {
	int ntasks;
	const TrartTask *tasks;
	int nbufs;            /* entries of bufs the tasks index */
	const size_t *pooled; /* per buffer: bytes the executor allocates
	                         from the pool (trart_pool_alloc) before the
	                         first task that writes it runs, and frees
	                         when the last that uses it completes; 0: the
	                         caller's buffer. NULL: none is pooled */
} TrartTaskGraph;

/* Runs every task of g once, each after all its predecessors, on
 * `threads` workers (0: all online cores; the calling thread is worker
 * 0), and returns when all are done. A released task goes to the ready
 * queue of the worker its placement names (device d: worker
 * d % threads); each worker runs the highest-priority task of its queue,
 * and, unless steal is false, an idle worker takes the highest-priority
 * task at the top of the other workers' queues. Idle workers sleep; they
 * never spin. A malformed graph (npred not matching the succ lists, an
 * index out of range, a cycle) ends the program with a message on
 * stderr rather than hanging. While a profile is attached (--trace,
 * --stats) every task is timed, on one trace track per worker. bufs has
 * g->nbufs entries (at least); those of pooled buffers are ignored (may
 * be NULL): the tasks see the executor's own, alive from the first
 * writer to the last user. */
void trart_run_tasks(const TrartTaskGraph *g, void *const *bufs,
                     int threads, bool steal);

/* The worker running the calling thread's task (0 to threads - 1), or -1
 * outside trart_run_tasks. */
int trart_worker_id(void);

#ifdef __cplusplus
}
#endif

#endif /* TRART_H */
