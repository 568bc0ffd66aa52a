/* gpu.h: the runtime's GPU devices, internal to libtrart (not part of
 * trart.h). A graph placed on GPUs (TrartTaskGraph.ngpus > 0, trac
 * --gpus) runs its tasks on them; sched.c's event loop drives them
 * through the run interface below (gpu.c), and gpu.c drives a device
 * through a table of operations, TrartGpuOps: the simulated GPUs of
 * gpu_sim.c (trac --backend=cuda-sim), whose every call is a CPU
 * implementation, or runtime/cuda.c's (trac --backend=cuda, in
 * libtrart_cuda), the only runtime file that includes CUDA's headers. The executor's logic (memory
 * domains, which blocks go where, streams, events) is the same for
 * both: what the simulated GPUs test in CI is what runs on a real one.
 */
#ifndef TRART_GPU_H
#define TRART_GPU_H

#include "exec.h"

/* What a copy moves between: the host's memory and a GPU's, or two
 * GPUs' (peer to peer). */
typedef enum TrartGpuCopy {
	TRART_GPU_H2D,
	TRART_GPU_D2H,
	TRART_GPU_D2D,
} TrartGpuCopy;

/* A device's operations, as CUDA's runtime has them. A stream runs what
 * is queued on it in order, asynchronously to the caller; a mark is a
 * point in a stream's order (an event recorded there). Every call is
 * made by the executor's one driving thread, and none waits for the
 * device: those that queue return at once. Calls that can fail return
 * NULL, or the name of the call that failed (for the message). */
typedef struct TrartGpuOps {
	const char *name;     /* for messages: "simulated GPU", "CUDA GPU" */
	/* Starts the device layer for a program placed on want GPUs; NULL,
	 * or a message (a static string or one in err) when it cannot:
	 * fewer GPUs than want, among others. */
	const char *(*open)(void *ctx, int want, char *err, size_t errlen);
	void (*close)(void *ctx);
	/* bytes of memory on GPU gpu (64-byte aligned, uninitialised), or
	 * NULL when it has no room. */
	void *(*alloc)(void *ctx, int gpu, size_t bytes);
	void (*free)(void *ctx, int gpu, void *p);
	/* bytes of pinned host memory (the GPUs' slower tier), or NULL. */
	void *(*host_alloc)(void *ctx, size_t bytes);
	void (*host_free)(void *ctx, void *p);
	/* Pins the caller's bytes at p for the run, so that copies to and
	 * from them are asynchronous; false when it cannot (the copies
	 * still work). unpin undoes a pin that worked. */
	bool (*pin)(void *ctx, void *p, size_t bytes);
	void (*unpin)(void *ctx, void *p);
	/* A new stream on GPU gpu, or NULL. */
	void *(*stream)(void *ctx, int gpu);
	void (*stream_free)(void *ctx, void *stream);
	/* Queues task's kernel on stream, over bufs (the GPU's buffers);
	 * t is the task's index in its graph. */
	const char *(*launch)(void *ctx, void *stream, int t, const TrartTask *task,
	                      void *const *bufs);
	/* Queues a copy of piece pc from the buffer at src to the buffer at
	 * dst (the same layout, in different memories). */
	const char *(*copy)(void *ctx, void *stream, TrartGpuCopy kind, void *dst,
	                    const void *src, const TrartPiece *pc);
	/* Queues a copy of bytes contiguous bytes from src to dst (an
	 * offload or a reload). */
	const char *(*copy_flat)(void *ctx, void *stream, TrartGpuCopy kind, void *dst,
	                         const void *src, size_t bytes);
	/* A mark after everything queued on stream so far. */
	const char *(*record)(void *ctx, void *stream, uint64_t *mark);
	/* Whether stream has passed mark: 1 yes, 0 not yet, -1 an error
	 * (a kernel or copy failed: *failed says what, or stays NULL). */
	int (*reached)(void *ctx, void *stream, uint64_t mark, const char **failed);
	/* Seconds the device spent in the kernels launched since the last
	 * call, all done by now (kernels that overlapped count each), or a
	 * negative number where it does not measure them. */
	double (*kernel_time)(void *ctx);
	void *ctx;
} TrartGpuOps;

/* gpu_sim.c: the simulated GPUs (TRART_GPU_SIM tunes them: trac(1)). */
TRART_INTERNAL const TrartGpuOps *trart_gpu_sim_ops(void);

/* The device the next runs use: runtime/cuda.c's (trart_cuda_main
 * installs it), or NULL, the simulated GPUs. */
TRART_INTERNAL void trart_gpu_set_device(const TrartGpuOps *ops);

/* gpu.c: one run of a graph on GPUs. */
typedef struct TrartGpuRun TrartGpuRun;

/* Opens the GPUs g is placed on and gives each its copy of every
 * buffer its tasks use (host holds the caller's buffers, g->ncaller of
 * them); works out where each task's pieces go. A failure ends the
 * program with a message (trart_fatal). */
TRART_INTERNAL TrartGpuRun *trart_gpu_begin(const TrartTaskGraph *g,
                                            void *const *host);

/* Task t was released: queues what it does on its GPU (its kernel, or
 * its input block's copies to the GPUs that read it). Returns true
 * when it has nothing to wait for (it only orders): done now. */
TRART_INTERNAL bool trart_gpu_submit(TrartGpuRun *r, int t);

/* The tasks that completed since the last call, each once its kernel
 * and the copies of its pieces to the GPUs (and host) that read them
 * are done, into done (room for every task); how many. Never waits. */
TRART_INTERNAL int trart_gpu_poll(TrartGpuRun *r, int *done);

/* Tasks submitted and not yet completed. */
TRART_INTERNAL int trart_gpu_in_flight(const TrartGpuRun *r);

/* What the run moved, for --stats. */
typedef struct TrartGpuStats {
	const char *device;    /* TrartGpuOps.name */
	int ngpus;
	double h2d, d2h, d2d;  /* bytes host to GPU, GPU to host, GPU to GPU */
	int64_t copies;        /* copies queued */
	int64_t kernels;       /* kernels launched */
	double memory;         /* bytes of the GPUs' arenas (or buffers), all of them */
	double offloaded, reloaded; /* bytes to and from pinned host memory */
	double kernel_s;       /* seconds in kernels (TrartGpuOps.kernel_time), or < 0 */
} TrartGpuStats;

/* Ends the run: what it moved into st (may be NULL). The GPUs stay set
 * up (the device open, the arenas, host memory, streams, the caller's
 * buffers pinned) for the next run of the same graph over the same
 * buffers, which trart_gpu_begin then starts at once: --repeat times
 * the computation, not cudaMalloc and cublasCreate. */
TRART_INTERNAL void trart_gpu_end(TrartGpuRun *r, TrartGpuStats *st);

/* Frees what the last run kept set up, and closes the device layer
 * (before the caller's buffers are freed: they may be pinned). */
TRART_INTERNAL void trart_gpu_release(void);

#endif /* TRART_GPU_H */
