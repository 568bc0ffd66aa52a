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
	TRART_I32, /* little-endian two's complement 32-bit, NumPy '<i4' */
	TRART_I64, /* little-endian two's complement 64-bit, NumPy '<i8' */
} TrartDtype;

/* Whether a dtype is an integer type. */
#define TRART_IS_INT(t) ((t) == TRART_I32 || (t) == TRART_I64)

#define TRART_MAX_RANK 16 /* the most dimensions a tensor may have */
#define TRART_ERRLEN 512  /* a comfortable size for error buffers */

/* Bytes per element of a dtype. */
size_t trart_dtype_size(TrartDtype t);

/* Name of a dtype as the language spells it: "f32", "f64", "i32", "i64". */
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

/* Fills n elements of dtype t at data with uniform values in [-1, 1)
 * (integer dtypes: integers uniform in [-64, 64)),
 * a pure function of (seed, name, element index): the same on every
 * machine, and independent of which other inputs the program has.
 * random.c states the algorithm; tests/trart_random.py reproduces it. */
/* An integer input that gathers read, whose smallest gathered dimension
 * has below elements: uniform in [0, below) instead (tra(5), INDEX
 * ARITHMETIC), so that --random runs read valid rows. */
void trart_random_index(void *data, TrartDtype t, size_t n, uint64_t seed, const char *name,
                        int64_t below);
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
	int64_t random_below; /* an integer input that gathers read: --random gives
	                         it values in [0, random_below) (trart_random_index);
	                         0 for the others */
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
	/* Training state (trac's NEXT -> X): between one step and the next
	 * (--steps), tensor feeds[2 * i] (an output) is copied into tensor
	 * feeds[2 * i + 1] (an input). */
	int nfeeds;
	const int *feeds;
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

/* Sets the number of worker threads; 0 means the number of online
 * cores. OpenBLAS uses as many while a whole-node program's kernels run
 * (trart_execute), and its own count otherwise. */
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

/* strassen.c */

/* The smallest M, N and K that trart_sgemm and trart_dgemm cut into
 * quadrants (one Strassen-Winograd level; twice as large, two levels). */
#ifndef TRART_STRASSEN_MIN
#define TRART_STRASSEN_MIN 384
#endif
/* cblas_sgemm's and cblas_dgemm's C = alpha op(A) op(B) + beta C, with
 * their arguments (ints for the enums: 101 row major, 111 no transpose,
 * 112 transpose), in 7/8 of the multiplications per level where the call
 * is large (strassen.c says how, and what it does to rounding). */
void trart_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
void trart_dgemm(int order, int transa, int transb, int m, int n, int k, double alpha, const double *A, int lda,
                 const double *B, int ldb, double beta, double *C, int ldc);

/* pool.c */

/* Block buffers: a task graph's intermediate tensors and partial blocks.
 * 64-byte aligned, not zeroed; freed buffers are kept, by size class,
 * for the next request (until trart_shutdown). Thread-safe; out of
 * memory is a clean fatal error. trart_pool_free(NULL) does nothing. */
void *trart_pool_alloc(size_t bytes);
/* A gather read index[position] = value, outside dimension dim (from 0)
 * of table, of size size: prints which and ends the program with status
 * 1, before any output is written (as running out of memory does).
 * position is the element's offset in index, of shape[rank]. */
void trart_gather_fail(const char *index, int rank, const int64_t *shape, int64_t position,
                       int64_t value, const char *table, int dim, int64_t size)
	__attribute__((noreturn));
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
	const struct TrartMemOp *mem; /* a memory task of the memgraph (fn is
	                         trart_mem_task), or NULL: a block kernel */
	int nview;            /* entries in view (0: every tensor whole) */
	const struct TrartView *view; /* tensors kept block by block: where
	                         this task's kernel finds the one block of
	                         each that it reads or writes */
	int npiece;           /* entries in piece (0: it writes nothing) */
	const struct TrartPiece *piece; /* on ranks (TrartTaskGraph.nranks
	                         > 1): what its kernel writes, the message
	                         a rank that reads it is sent */
};

/* A block a task writes, as a message between ranks or a copy between
 * GPUs carries it: a box of a buffer laid out in C order (a tensor's
 * block, or a split join's whole partial block). */
typedef struct TrartPiece {
	int buf;              /* the buffer, as kernels index bufs */
	int elsize;           /* bytes per element */
	int ndim;             /* the buffer's dimensions (>= 1) */
	int host;             /* TRART_PIECE_OUTPUT: a final block of an
	                         output, which rank 0 writes (sent there too)
	                         or, on GPUs, the host (copied there too);
	                         TRART_PIECE_INPUT: on GPUs, the block of an
	                         input its leaf task stands for, copied from
	                         the host to the GPUs that read it; else 0 */
	const int64_t *dims;  /* 3 * ndim entries: the buffer's shape, the
	                         box's first index, the box's size */
} TrartPiece;

enum { TRART_PIECE_OUTPUT = 1, TRART_PIECE_INPUT = 2 };

/* A tensor kept block by block under a memory budget (compiler/
 * memgraph.c, MG_BLOCK): each block is a buffer of its own, bytes from
 * its first element to its last in the tensor's layout, and a kernel
 * that touches one block of it indexes it as the whole tensor, from
 * where the tensor's first byte would be. */
typedef struct TrartView {
	int node;             /* the tensor's buffer, as kernels index bufs */
	int buf;              /* the block's own buffer */
	int64_t begin;        /* the block's first byte in the tensor */
} TrartView;

/* What a block kernel indexes its tensors' buffers in: bufs itself when
 * the task has no views; else local (the kernel's own array of nlocal
 * entries, a buffer per tensor) with the tensors it uses (task->use)
 * from bufs, and each viewed tensor at its block, shifted back by the
 * block's first byte. A kernel reads partial blocks (KPLAN_PARTIAL,
 * past the tensors) from bufs. */
void *const *trart_task_bufs(void *const *bufs, const TrartTask *task, void **local, int nlocal);

/* The memgraph's memory tasks (compiler/memgraph.c plans them; they are
 * rows of the task table like block kernels, with fn = trart_mem_task).
 * A buffer the graph plans lives at an offset of one arena (its memory
 * domain's): alloc and free only order its first writer after the users
 * of the region's last occupant (they move nothing); offload writes the
 * buffer's bytes to its slot of the spill file (the slower tier); reload
 * reads them back to a new offset, where the buffer's later users find
 * it.
 *
 * Inputs and outputs too large for memory are read and written out of
 * core: a block of one is resident only between a READ (input) or CLAIM
 * (output) and a DROP or WRITE, and the plan accounts it at a room of
 * the arena meanwhile. Their buffer is the caller's (pooled 0), and the
 * four do something only where it is a file mapping the runtime made
 * (trart_main maps --input files and staged outputs): READ brings the
 * block's pages in from the file, DROP lets them go, CLAIM readies an
 * output block, WRITE writes one back to its file and lets it go; each
 * first gives the arena room's pages back to the system, since the block
 * lives in the file's pages instead. On ordinary memory (library mode)
 * all four do nothing. */
typedef enum TrartMemKind {
	TRART_MEM_ALLOC,
	TRART_MEM_FREE,
	TRART_MEM_OFFLOAD,
	TRART_MEM_RELOAD,
	TRART_MEM_READ,       /* an input block's residency begins */
	TRART_MEM_DROP,       /* an input block's last use passed */
	TRART_MEM_CLAIM,      /* an output block's residency begins */
	TRART_MEM_WRITE,      /* an output block is complete */
} TrartMemKind;

typedef struct TrartMemOp {
	int kind;             /* a TrartMemKind */
	int buf;              /* the buffer it allocates, frees, moves; read
	                         to write: an input's or output's (the
	                         caller's) */
	int64_t offset;       /* reload: where it goes in the arena; read to
	                         write: the block's room in the arena (its
	                         bytes rounded up to 64) */
	int64_t bytes;        /* offload, reload: how many bytes move; read
	                         to write: the block's bytes */
	int64_t spill;        /* offload, reload: the slot's offset in the
	                         spill file; read to write: the block's first
	                         byte, from the start of the tensor's data */
} TrartMemOp;

/* A memory task's fn: does what task->mem says. */
void trart_mem_task(void *const *bufs, const TrartTask *task);

/* A task graph: its tasks, referring to each other by index, and the
 * buffers the executor manages. */
typedef struct TrartTaskGraph {
	int ntasks;
	const TrartTask *tasks;
	int nbufs;            /* entries of bufs the tasks index */
	const size_t *pooled; /* per buffer: bytes the executor provides
	                         (below); 0: the caller's buffer. NULL: none */
	int ncaller;          /* the caller's bufs has this many entries: a
	                         buffer past them is pooled, or unused */
	int64_t arena;        /* > 0: the arena's bytes, and every pooled
	                         buffer lives at its planned offset in it
	                         (memgraph), from the start of the run; the
	                         memory tasks move them. 0: pooled buffers
	                         come from the pool (trart_pool_alloc) before
	                         the first task that uses one runs, and go
	                         back after the last that uses it completes */
	const int64_t *offset;  /* arena > 0: per buffer, its first offset */
	int64_t spill;        /* bytes of the spill file the offloads need */
	int nranks;           /* > 1: placed on this many MPI ranks (trac
	                         --ranks), device d on rank d / rank_devices;
	                         else one process */
	int rank_devices;     /* devices per rank */
	int ngpus;            /* > 0: placed on this many GPUs (trac --gpus),
	                         task on device d runs on GPU d, with a copy
	                         of each buffer it uses in that GPU's memory
	                         (gpu.c); else 0: CPU workers */
	const int64_t *bytes; /* ngpus > 0: per buffer, its bytes */
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
 * --stats) every task is timed, on one trace track per worker. A graph
 * with offloads and reloads (an arena and a spill file) runs them on one
 * more thread, so that no worker waits on the disk. bufs has
 * g->nbufs entries (at least) or, with pooled buffers, g->ncaller; those
 * of pooled buffers are ignored (may be NULL): the tasks see the
 * executor's own, alive from the first writer to the last user (or, with
 * an arena, for the whole run, where the plan puts them). */
void trart_run_tasks(const TrartTaskGraph *g, void *const *bufs,
                     int threads, bool steal);

/* Ranks: one program on several processes (trac --ranks; runtime/mpi.c,
 * in libtrart_mpi, is the only file that includes mpi.h). The executor
 * and the command line reach the transport through this table, which
 * trart_mpi_main installs; with none installed a program is one
 * process, as always. On rank r the executor runs the tasks placed on
 * r and those that only order which some of them wait for; a block
 * made on one rank and read on another is a message (its pieces),
 * received straight into the reader's buffer, and rank 0 is sent every
 * final block of the outputs, which it alone writes. */
typedef struct TrartComm {
	int rank;             /* this process's rank, 0 to nranks - 1 */
	int nranks;
	void *ctx;            /* the transport's own */
	/* Starts sending (send) or receiving piece pc of the buffer at base
	 * to or from rank peer, under tag, as request id (>= 0, the
	 * caller's); never waits. */
	void (*post)(void *ctx, bool send, int peer, int tag, void *base,
	             const TrartPiece *pc, int id);
	/* The ids of requests completed since the last call, into done
	 * (room for every request posted); how many (0: none yet). Never
	 * waits. */
	int (*poll)(void *ctx, int *done);
	/* A collective every rank calls at the same point: the largest of
	 * every rank's status, and in *first the lowest rank that has it. */
	int (*agree)(void *ctx, int status, int *first);
	/* A collective every rank calls at the same point: the bytes at buf
	 * on rank root, into buf on every other rank (--steps's state). */
	void (*bcast)(void *ctx, void *buf, size_t bytes, int root);
	/* Task t of this rank completed (the transport's hook for tests'
	 * injected failures; may end the program). */
	void (*task_done)(void *ctx, int t);
} TrartComm;

/* Installs the transport (NULL: one process again). */
void trart_set_comm(const TrartComm *c);
const TrartComm *trart_comm(void);

/* A generated program's main on ranks (runtime/mpi.c): starts MPI when
 * the program runs under mpirun, runs trart_main on every rank, and
 * ends MPI. Without mpirun the program is one process. */
int trart_mpi_main(const TrartProgram *p, int argc, char **argv);

/* GPUs: a program trac --backend=cuda built runs its tasks on CUDA GPUs
 * (runtime/cuda.c, in libtrart_cuda, the only runtime file that
 * includes CUDA's headers). The generated CUDA file has a launcher per
 * task (trart_cuda.h's TrartCudaFn, or NULL where a task only orders);
 * the generated main passes them here. */
typedef struct TrartCudaKernels {
	const void *const *launch; /* per task: its TrartCudaFn, or NULL */
	int ntasks;                /* entries in launch */
	bool tf32;                 /* trac --tf32: cuBLAS may compute f32
	                              GEMMs in TF32 on tensor cores */
} TrartCudaKernels;

/* A generated program's main on CUDA GPUs: installs runtime/cuda.c's
 * device and runs trart_main. No GPU, or fewer than the program was
 * compiled for, is an error (exit 1), unless TRART_CUDA_SHARE=1 lets
 * several of its GPUs share one (trac(1)). */
int trart_cuda_main(const TrartProgram *p, const TrartCudaKernels *k, int argc, char **argv);

/* The worker running the calling thread's task (0 to threads - 1), or -1
 * outside trart_run_tasks (and on its I/O thread, which runs a planned
 * graph's offloads and reloads). */
int trart_worker_id(void);

/* spill.c */

/* The directory for the spill file (the generated program's --spill-dir;
 * NULL: $TMPDIR, else /tmp). A graph whose offloads need one (spill > 0)
 * gets one file there, created as trac-spill-XXXXXX and unlinked at
 * once, so that it never outlives the process. dir is kept, not copied:
 * it must stay valid until the file is created, by the first such run
 * after trart_shutdown (which closes it). */
void trart_set_spill_dir(const char *dir);

#ifdef __cplusplus
}
#endif

/* ---- kernel math ----------------------------------------------------------
 * Element functions for generated kernels, defined only where
 * TRART_KERNEL_MATH is (the generated C defines it; programs that merely
 * use the runtime do not see these). Each is branch-free straight-line
 * code (selects, bit moves, polynomials), so a loop calling it
 * vectorises: glibc's expf, tanhf, logf, powf are calls the C compiler
 * cannot vectorise without -ffast-math and libmvec. Accuracy, measured
 * against double-precision NumPy by tests/mathfn.sh over [-1e30, 1e30],
 * subnormals, zeros, infinities and NaN: f32 within 3 ulp (pow: the
 * exact result rounded once, computed through the f64 functions), f64
 * within 4 ulp (pow: 1e-13 relative, the error of y * log x). Special
 * values follow C99 Annex F, but for signed zeros (trac compiles with
 * -fno-signed-zeros) and subnormal f32 results of exp (flushed to 0).
 */
/* sin and cos of |x| >= TRART_TRIG_LIMIT (2^50) are NaN: the kernels'
 * argument reduction (trart_trig_double) is exact only below it. The
 * three parts of pi/2 and the Taylor coefficients of sin (r^17 down to
 * r^3) and cos (r^18 down to r^4), for trart.h and the LLVM back end. */
#define TRART_TRIG_LIMIT 1125899906842624.0
#define TRART_PIO2_PARTS 1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33
#define TRART_SIN_TAYLOR 1.0 / 355687428096000.0, -1.0 / 1307674368000.0, 1.0 / 6227020800.0, \
	-1.0 / 39916800.0, 1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0
/* erf: below TRART_ERF_SPLIT the Taylor series (-1)^n / (n! (2n + 1)) of
 * erf(x) sqrt(pi) / 2x in x^2, n = 26 down to 0; above it 1 - erfc(x) by
 * TRART_ERF_CF steps of erfc's continued fraction. */
#define TRART_ERF_SPLIT 1.5
#define TRART_ERF_CF 80
#define TRART_ERF_TAYLOR 4.6784835155184856e-29, -1.2641078988989164e-27, 3.289260349175752e-26, \
	-8.230149299214221e-25, 1.977064753877905e-23, -4.5518467589282e-22, 1.0025164934907719e-20, \
	-2.107855191442136e-19, 4.221407288807088e-18, -8.032735012415773e-17, 1.4483264643598138e-15, \
	-2.466827010264457e-14, 3.9554295164585257e-13, -5.9477940136376354e-12, 8.35070279514724e-11, \
	-1.0892221037148573e-09, 1.3122532963802806e-08, -1.4503852223150468e-07, 1.4589169000933706e-06, \
	-1.3227513227513228e-05, 0.00010683760683760684, -0.0007575757575757576, 0.004629629629629629, \
	-0.023809523809523808, 0.1, -0.3333333333333333, 1.0
#define TRART_COS_TAYLOR -1.0 / 6402373705728000.0, 1.0 / 20922789888000.0, \
	-1.0 / 87178291200.0, 1.0 / 479001600.0, -1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0

#ifdef TRART_KERNEL_MATH
#include <math.h>
#include <string.h>

/* y 2^k for an integral k (a float, |k| < 2^22) where the result is
 * normal: k added to the exponent bits. The integer comes from the bits
 * of k + 1.5 * 2^23, whose low bits hold k (no float-to-int conversion,
 * which is undefined for NaN and costs masks once vectorised). */
static inline float trart_ldexp_float(float y, float k)
{
	float m = k + 12582912.0f, two = 12582912.0f;
	uint32_t b, t, yb;
	memcpy(&b, &m, sizeof b);
	memcpy(&t, &two, sizeof t);
	memcpy(&yb, &y, sizeof yb);
	yb += (b - t) << 23;
	memcpy(&y, &yb, sizeof y);
	return y;
}

/* e^x in f32: Cody-Waite reduction by ln 2 (with fmaf, so that
 * reassociation cannot undo it), Cephes' polynomial in Horner form with
 * fmaf (the C compiler does not contract in ISO C mode), 2^k added to the
 * exponent bits (2^(k+32) and a product by 2^-32 where the result is
 * subnormal); about 1 ulp. A NaN is kept by the last select alone, so
 * that the vector loop carries one mask for it. */
static inline float trart_exp_float(float x)
{
	float xc = x < -104.0f ? -104.0f : x;
	xc = xc > 88.72283f ? 88.72283f : xc;
	float k = floorf(xc * 1.44269504088896341f + 0.5f);
	float r = fmaf(k, 2.12194440e-4f, fmaf(-k, 0.693359375f, xc));
	float p = 1.9875691500e-4f;
	p = fmaf(p, r, 1.3981999507e-3f);
	p = fmaf(p, r, 8.3334519073e-3f);
	p = fmaf(p, r, 4.1665795894e-2f);
	p = fmaf(p, r, 1.6666665459e-1f);
	p = fmaf(p, r, 5.0000001201e-1f);
	p = fmaf(p * r, r, r) + 1.0f;
	float sub = k < -120.0f ? 32.0f : 0.0f;
	float y = trart_ldexp_float(p, k + sub);
	y = k < -120.0f ? y * 2.3283064365386963e-10f : y;
	y = x > 88.72283f ? INFINITY : y;
	return x != x ? x : y;
}

/* y 2^k for an integral k (a double) where the result is normal. The
 * integer comes from the bits of k + 1.5 * 2^52, whose low bits hold k
 * (no double-to-int64 conversion, which AVX2 lacks). */
static inline double trart_ldexp_double(double y, double k)
{
	double m = k + 6755399441055744.0, two = 6755399441055744.0;
	uint64_t b, t, yb;
	memcpy(&b, &m, sizeof b);
	memcpy(&t, &two, sizeof t);
	memcpy(&yb, &y, sizeof yb);
	yb += (b - t) << 52;
	memcpy(&y, &yb, sizeof y);
	return y;
}

/* The reduction e^x = 2^k e^r, |r| <= ln2 / 2, for |x| <= 746: k (as a
 * double) and r, by a two-part ln 2 (fma, so that reassociation cannot
 * undo it). A NaN x gives k = 0 and r NaN. */
static inline double trart_exp_reduce_double(double x, double *r)
{
	double k = floor(x * 1.4426950408889634 + 0.5);
	k = k == k ? k : 0.0;
	*r = fma(-k, 1.9082149292705877e-10, fma(-k, 6.9314718036912382e-01, x));
	return k;
}

/* e^r - 1 for |r| <= ln2 / 2: Taylor to r^13 (error below 2^-60). */
static inline double trart_expm1_poly_double(double r)
{
	double p = 1.0 / 6227020800.0;
	p = fma(p, r, 1.0 / 479001600.0);
	p = fma(p, r, 1.0 / 39916800.0);
	p = fma(p, r, 1.0 / 3628800.0);
	p = fma(p, r, 1.0 / 362880.0);
	p = fma(p, r, 1.0 / 40320.0);
	p = fma(p, r, 1.0 / 5040.0);
	p = fma(p, r, 1.0 / 720.0);
	p = fma(p, r, 1.0 / 120.0);
	p = fma(p, r, 1.0 / 24.0);
	p = fma(p, r, 1.0 / 6.0);
	p = fma(p, r, 0.5);
	return fma(p * r, r, r);
}

/* e^x in f64, 2^k applied as trart_exp_float does (2^(k+64) 2^-64
 * where the result is subnormal). */
static inline double trart_exp_double(double x)
{
	double xc = x < -746.0 ? -746.0 : x;
	xc = xc > 709.782712893384 ? 709.782712893384 : xc;
	double r, k = trart_exp_reduce_double(xc, &r);
	double y = trart_ldexp_double(1.0 + trart_expm1_poly_double(r), k < -1000.0 ? k + 64.0 : k);
	y = k < -1000.0 ? y * 5.4210108624275222e-20 : y;
	return x > 709.782712893384 ? INFINITY : y;
}

/* e^x - 1 in f64 for |x| <= 700, without the cancellation of exp(x) - 1
 * near 0: 2^k (e^r - 1) + (2^k - 1), the sum as an fma so that
 * reassociation cannot turn it into 2^k e^r - 1. */
static inline double trart_expm1_core_double(double x)
{
	double r, k = trart_exp_reduce_double(x, &r);
	double s = trart_ldexp_double(1.0, k);
	return fma(s, trart_expm1_poly_double(r), s - 1.0);
}

/* tanh in f32 (Cephes' tanhf): an odd polynomial below 0.625, else
 * 1 - 2 / (e^2|x| + 1), which is 1 once e^2|x| overflows. */
static inline float trart_tanh_float(float x)
{
	float a = fabsf(x), z = a * a;
	float p = -5.70498872745e-3f;
	p = fmaf(p, z, 2.06390887954e-2f);
	p = fmaf(p, z, -5.37397155531e-2f);
	p = fmaf(p, z, 1.33314422036e-1f);
	p = fmaf(p, z, -3.33332819422e-1f);
	float small = fmaf(p * z, a, a);
	float big = 1.0f - 2.0f / (trart_exp_float(2.0f * a) + 1.0f);
	return copysignf(a < 0.625f ? small : big, x);
}

/* tanh in f64: e^2|x| - 1 over e^2|x| + 1, through expm1, which keeps
 * tanh(x) = x near 0; |x| >= 20 is 1 to double precision. */
static inline double trart_tanh_double(double x)
{
	double a = fabs(x);
	a = a > 20.0 ? 20.0 : a;
	double e = trart_expm1_core_double(2.0 * a);
	return copysign(e / (e + 2.0), x);
}

/* log in f32: x = 2^e m with m in [sqrt(1/2), sqrt(2)), f = m - 1,
 * s = f / (2 + f), log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) (fdlibm's
 * form, with the atanh series' coefficients for R); subnormals scaled
 * by 2^23 first. */
static inline float trart_log_float(float x)
{
	float xs = x < 1.17549435e-38f ? x * 8388608.0f : x;
	float e0 = x < 1.17549435e-38f ? -23.0f : 0.0f;
	uint32_t b;
	memcpy(&b, &xs, sizeof b);
	float e = (float)((int32_t)(b >> 23) - 127) + e0, m;
	b = (b & 0x007fffffu) | 0x3f800000u;
	memcpy(&m, &b, sizeof m);
	e = m > 1.41421356f ? e + 1.0f : e;
	m = m > 1.41421356f ? m * 0.5f : m;
	float f = m - 1.0f, s = f / (2.0f + f), z = s * s, h = 0.5f * f * f;
	float R = z * (2.0f / 3 + z * (2.0f / 5 + z * (2.0f / 7 + z * (2.0f / 9))));
	float y = fmaf(e, 0.693359375f, f - (h - fmaf(s, h + R, e * -2.12194440e-4f)));
	y = x == 0.0f ? -INFINITY : y;
	y = x < 0.0f ? NAN : y;
	y = x == INFINITY ? x : y;
	return x != x ? x : y;
}

/* The parts of x = 2^e m in f64, m in [sqrt(1/2), sqrt(2)): e in *e, m
 * returned (subnormals scaled by 2^54 first). */
static inline double trart_log_split_double(double x, double *e)
{
	double xs = x < 2.2250738585072014e-308 ? x * 18014398509481984.0 : x;
	double e0 = x < 2.2250738585072014e-308 ? -54.0 : 0.0;
	uint64_t b;
	memcpy(&b, &xs, sizeof b);
	double ex = (double)((int64_t)(b >> 52) - 1023) + e0, m;
	b = (b & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	memcpy(&m, &b, sizeof m);
	*e = m > 1.4142135623730951 ? ex + 1.0 : ex;
	return m > 1.4142135623730951 ? m * 0.5 : m;
}

/* y, or a logarithm's value at x's special cases: 0, negative, inf, NaN. */
static inline double trart_log_special_double(double x, double y)
{
	y = x == 0.0 ? -INFINITY : y;
	y = x < 0.0 ? NAN : y;
	y = x == INFINITY ? x : y;
	return x != x ? x : y;
}

/* R(z) of log(1 + f) = f - f^2/2 + s (f^2/2 + R), z = s^2: the atanh
 * series' coefficients 2/3 to 2/23 (s^22). */
static inline double trart_log_series_double(double z)
{
	double R = 2.0 / 23;
	for (int i = 21; i >= 3; i -= 2)
		R = R * z + 2.0 / i;
	return R * z;
}

/* log in f64: trart_log_float's method, the series to s^22. */
static inline double trart_log_double(double x)
{
	double e, m = trart_log_split_double(x, &e);
	double f = m - 1.0, s = f / (2.0 + f), z = s * s, h = 0.5 * f * f;
	double R = trart_log_series_double(z);
	double y = fma(e, 6.93147180369123816490e-01,
	               f - (h - fma(s, h + R, e * 1.90821492927058770002e-10)));
	return trart_log_special_double(x, y);
}

/* x^y in f64 as e^(y log|x|), with C99's cases: a negative x gives NaN
 * unless y is an integer (the sign of odd powers) or x is -inf; x^0 and
 * 1^y are 1, (-1)^(+-inf) is 1. The error is that of y log|x|: about
 * 1e-13 relative where the result is near the overflow limit. */
static inline double trart_pow_double(double x, double y)
{
	double ax = fabs(x);
	double r = trart_exp_double(y * trart_log_double(ax));
	int integral = y == floor(y);
	int odd = integral && floor(y * 0.5) * 2.0 != y;
	uint64_t sign; /* the bit, not signbit(): -fno-signed-zeros folds that to x < 0 */
	memcpy(&sign, &x, sizeof sign);
	r = sign >> 63 && odd ? -r : r; /* (-0)^-1 is -inf */
	r = x < 0.0 && !integral && x != -INFINITY ? NAN : r;
	r = ax == 1.0 && (y == INFINITY || y == -INFINITY) ? 1.0 : r;
	return y == 0.0 || x == 1.0 ? 1.0 : r;
}

/* x^y in f32: the f64 function rounded once (within half an ulp but for
 * double rounding). */
static inline float trart_pow_float(float x, float y)
{
	return (float)trart_pow_double(x, y);
}

/* 1 / (1 + e^-x) as e^-|x| / (1 + e^-|x|) for negative x, where e^-x
 * would overflow before the result underflows. */
static inline float trart_sigmoid_float(float x)
{
	float e = trart_exp_float(-fabsf(x));
	return (x < 0.0f ? e : 1.0f) / (1.0f + e);
}

static inline double trart_sigmoid_double(double x)
{
	double e = trart_exp_double(-fabs(x));
	return (x < 0.0 ? e : 1.0) / (1.0 + e);
}
/* ---- sin, cos, erf, exp2, log2, expm1, log1p, rsqrt, sign. The f32 versions
 * compute in f64 and round once. */

/* sin (shift 0) or cos (shift 1) in f64: x = k pi/2 + r, |r| <= pi/4,
 * by a three-part pi/2 (each product by fma: exact enough for |x| <
 * 2^50, within 2 ulp even next to a multiple of pi/2), Taylor
 * polynomials of sin r and cos r, one chosen and signed by (k + shift)
 * mod 4. */
static inline double trart_trig_double(double x, double shift)
{
	static const double pio2[] = {TRART_PIO2_PARTS}, sc[] = {TRART_SIN_TAYLOR}, cc[] = {TRART_COS_TAYLOR};
	double k = floor(x * 0.6366197723675814 + 0.5);
	double r = fma(-k, pio2[2], fma(-k, pio2[1], fma(-k, pio2[0], x)));
	double z = r * r, s = sc[0], c = cc[0];
	/* unrolled before vectorisation: gcc does not vectorise a loop with
	 * an inner loop */
#pragma GCC unroll 8
	for (int i = 1; i < 8; i++) {
		s = fma(s, z, sc[i]);
		c = fma(c, z, cc[i]);
	}
	s = fma(s * z, r, r);
	c = fma(c * z, z, fma(-0.5, z, 1.0));
	double q = k + shift;
	q = q - 4.0 * floor(q * 0.25);
	double y = q == 0.0 || q == 2.0 ? s : c;
	y = q >= 2.0 ? -y : y;
	return fabs(x) < TRART_TRIG_LIMIT ? y : NAN;
}

static inline double trart_sin_double(double x) { return trart_trig_double(x, 0.0); }
static inline double trart_cos_double(double x) { return trart_trig_double(x, 1.0); }
static inline float trart_sin_float(float x) { return (float)trart_trig_double(x, 0.0); }
static inline float trart_cos_float(float x) { return (float)trart_trig_double(x, 1.0); }

/* 2^x in f64: 2^k e^(f ln 2) for k the integer nearest x and f = x - k
 * (exact), so that exp2 of an integer is exact; subnormal results as in
 * trart_exp_double. */
static inline double trart_exp2_double(double x)
{
	double xc = x < -1080.0 ? -1080.0 : x;
	xc = xc > 1024.0 ? 1024.0 : xc;
	double k = floor(xc + 0.5);
	double e = trart_exp_double((xc - k) * 0.6931471805599453);
	double y = trart_ldexp_double(e, k < -1000.0 ? k + 64.0 : k);
	y = k < -1000.0 ? y * 5.4210108624275222e-20 : y;
	y = x >= 1024.0 ? INFINITY : y;
	return x != x ? x : y;
}

static inline float trart_exp2_float(float x) { return (float)trart_exp2_double(x); }

/* log(1 + f) in f64 for f in [sqrt(1/2) - 1, sqrt(2) - 1): trart_log_double's
 * series, without its 2^e. */
static inline double trart_log_core_double(double f)
{
	double s = f / (2.0 + f), h = 0.5 * f * f;
	return f - (h - s * (h + trart_log_series_double(s * s)));
}

/* log2 in f64: x = 2^e m as in trart_log_double, e + log(m) / ln 2 (one
 * fma), so that log2 of a power of two is exact. */
static inline double trart_log2_double(double x)
{
	double e, m = trart_log_split_double(x, &e);
	return trart_log_special_double(x, fma(trart_log_core_double(m - 1.0), 1.4426950408889634, e));
}

static inline float trart_log2_float(float x) { return (float)trart_log2_double(x); }

/* e^x - 1 in f64 for every x: trart_expm1_core_double on x clamped to
 * [-60, 700] (-1 to double precision below), e^x above 700. */
static inline double trart_expm1_double(double x)
{
	double xc = x < -60.0 ? -60.0 : x;
	xc = xc > 700.0 ? 700.0 : xc;
	double y = trart_expm1_core_double(xc);
	y = x > 700.0 ? trart_exp_double(x) : y;
	return x != x ? x : y;
}

static inline float trart_expm1_float(float x) { return (float)trart_expm1_double(x); }

/* log(1 + x) in f64: the series of trart_log_core_double on x itself
 * where 1 + x is in [sqrt(1/2), sqrt(2)), so that nothing cancels (the
 * C back end compiles with -fassociative-math, which may fold (1 + x) - 1
 * to x: Goldberg's log(u) x / (u - 1) would not survive it); log(1 + x)
 * elsewhere, where log's result is at least 0.34 and the rounding of
 * 1 + x costs at most an ulp. */
static inline double trart_log1p_double(double x)
{
	double y = trart_log_core_double(x);
	return x > -0.2928932188134524 && x < 0.41421356237309503 ? y : trart_log_double(1.0 + x);
}

static inline float trart_log1p_float(float x) { return (float)trart_log1p_double(x); }

/* erf in f64 (within 4 ulp; 1 in f32): for |x| < 1.5 the Taylor series
 * times x; above, 1 - erfc(|x|) with erfc(a) = e^(-a^2) / sqrt(pi) / K,
 * K = a + (1/2) / (a + 1 / (a + (3/2) / ...)), 80 steps of the
 * continued fraction by Wallis' recurrence (multiplications only, one
 * division at the end), a clamped to [1.5, 6] (erf is 1 in f64 beyond
 * 6); the sign of x put back. */
static inline double trart_erf_double(double x)
{
	static const double tc[] = {TRART_ERF_TAYLOR};
	double a = fabs(x), z = a * a, p = tc[0];
#pragma GCC unroll 32
	for (int n = 1; n < (int)(sizeof tc / sizeof *tc); n++)
		p = fma(p, z, tc[n]);
	double small = p * a * 1.1283791670955126;
	double ac = a < TRART_ERF_SPLIT ? TRART_ERF_SPLIT : a;
	ac = ac > 6.0 ? 6.0 : ac;
	double A0 = 1.0, A1 = ac, B0 = 0.0, B1 = 1.0;
#pragma GCC unroll 128
	for (int k = 1; k <= TRART_ERF_CF; k++) {
		double A2 = fma(ac, A1, 0.5 * k * A0), B2 = fma(ac, B1, 0.5 * k * B0);
		A0 = A1, A1 = A2, B0 = B1, B1 = B2;
	}
	double big = 1.0 - trart_exp_double(-ac * ac) * 0.5641895835477563 * (B1 / A1);
	return copysign(a < TRART_ERF_SPLIT ? small : big, x);
}

static inline float trart_erf_float(float x) { return (float)trart_erf_double(x); }

static inline float trart_rsqrt_float(float x) { return 1.0f / sqrtf(x); }
static inline double trart_rsqrt_double(double x) { return 1.0 / sqrt(x); }

/* -1, 0 or 1; a NaN stays NaN. */
static inline float trart_sign_float(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }
static inline double trart_sign_double(double x) { return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x; }
#endif /* TRART_KERNEL_MATH */

#endif /* TRART_H */
