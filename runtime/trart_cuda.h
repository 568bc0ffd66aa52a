/* trart_cuda.h: what the CUDA kernels trac generates (--backend=cuda,
 * --emit=cuda) and the runtime's CUDA device (runtime/cuda.c, in
 * libtrart_cuda) agree on: how the runtime calls a task's launcher.
 * C and CUDA C++ both include it. */
#ifndef TRART_CUDA_H
#define TRART_CUDA_H

#include <stdint.h>
#include <cuda_runtime_api.h>
#include <cublas_v2.h>

/* What the runtime gives a launcher: every buffer's device address on
 * the task's GPU (tensors by node id, then partial blocks by task), the
 * task's block (lo and hi per index of its node), the task, its stream
 * and a cuBLAS handle whose stream is that one. */
typedef struct TrartCudaCall {
	void *const *bufs;
	const int64_t *lo, *hi;
	int self;
	cudaStream_t stream;
	cublasHandle_t blas;
} TrartCudaCall;

/* A launcher: enqueues the task's kernels (and cuBLAS calls) on its
 * stream and returns at once; NULL, or the name of the call that
 * failed. */
typedef const char *(*TrartCudaFn)(const TrartCudaCall *call);

#endif /* TRART_CUDA_H */
