/* cublas_ref.cu: the reference that bench/gpu.sh holds trac's CUDA back
 * end to, on the same GPU in the same run.
 *
 *   cublas_ref probe
 *   cublas_ref w1 M P Q N      [--repeat R] [--check FILE.npy] [--tol T]
 *   cublas_ref w2 N D H C      [...]
 *   cublas_ref w6 B I J K      [...]
 *   cublas_ref w4 N D          [...]
 *   cublas_ref bandwidth [MIB] [--repeat R]
 *
 * w1, w2 and w6 are bench/w1_chain.tra, w2_mlp.tra and w6_bmm.tra done
 * the way a plain cuBLAS program does them, in f32 with cuBLAS's default
 * math mode (CUBLAS_DEFAULT_MATH: no TF32), row-major tensors as the
 * .tra files declare them:
 *
 *   w1  T = B C, D = A T            (the cheap order trac finds: 2 sgemm)
 *   w2  Hd = relu(X W1), Y = Hd W2, P = the row softmax of Y
 *       (2 sgemm, a relu kernel and a row-softmax kernel, one block a row)
 *   w6  Z[b] = X[b] Y[b]            (one cublasSgemmStridedBatched)
 *   w4  Y[i] = sum_j exp(X[i,j] - max_k X[i,k]): one plain kernel, a block
 *       a row (no cuBLAS; gpu.sh's W4 target is the copy bandwidth, this
 *       is for the check and for context)
 *
 * The inputs are the values `prog --random=1` gives trac's program
 * (runtime/random.c's generator, seed 1, keyed by the input's name), so
 * --check FILE.npy (up to 4 of them) compares trac's output with this
 * one's: the normwise relative error max|trac - ref| / max|ref|, 'ok'
 * when <= --tol (1e-4, tra(5)'s f32 promise; TF32 products would exceed
 * it). W2's logits are not well scaled (they reach about a thousand), so
 * where its outputs differ by more, the rows that differ most are
 * recomputed in double and trac's is ok when its error there is at most
 * twice cuBLAS's (ref_check).
 *
 * Timing, all with cudaEvents on one stream, after 2 untimed warm-ups
 * (cuBLAS picks and loads its kernels on the first call), the best
 * (and the median) of R timed repeats (default 10):
 *   compute  the GEMMs and kernels, inputs already on the GPU
 *   h2d      the inputs copied host to GPU from pinned (cudaMallocHost)
 *            memory, all inputs in one timed batch
 *   d2h      the output copied back to pinned memory
 *   h2d_pageable, d2h_pageable: the same from and to malloc'd memory
 *            (synchronous cudaMemcpy; best of 3), for context
 * and prints one line
 *
 *   ref w1: gflop=17.179869 compute_ms=... compute_median_ms=...
 *       h2d_ms=... d2h_ms=... h2d_pageable_ms=... d2h_pageable_ms=...
 *       total_ms=... in_bytes=... out_bytes=... gflops=... gflops_total=...
 *       math=default self_err=... self=ok
 *
 * (one line; total_ms = compute_ms + h2d_ms + d2h_ms, the same work as a
 * trac program's run, which copies its inputs in and its output out;
 * gflops = gflop / compute_ms, gflops_total = gflop / total_ms; self_err:
 * 16 output elements (w2: 20, each row's largest too) recomputed in
 * double on the host, their normwise relative error, self=MISMATCH and
 * exit status 1 when over --tol), and with --check a line
 *
 *   check w1: ok err=3.1e-07 file=...        (or MISMATCH, or an error)
 *
 * bandwidth measures the device memory bandwidth: a grid-stride copy
 * kernel (16-byte loads and stores, several grid shapes, the best kept)
 * between two buffers of MIB mebibytes each (default 1024), bytes read
 * plus bytes written over the time; cudaMemcpy device to device, and
 * pinned host-to-GPU and GPU-to-host copies of 256 MiB, for context:
 *
 *   bandwidth: bytes=1073741824 copy_ms=... copy_gbps=... memcpy_gbps=...
 *       h2d_gbps=... d2h_gbps=...
 *
 * (GB/s are 10^9 bytes a second). probe says whether a GPU is usable,
 * exit status 0, else 1 and why:
 *
 *   probe: gpus=1 name="NVIDIA H200" sm=9.0 memory=150754820096 sms=132
 *
 * Errors: one line on stderr naming the call, exit status 1; usage 2.
 * Built by bench/gpu.sh: nvcc -O3 -arch=sm_90 cublas_ref.cu -lcublas.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_WARMUP 2           /* untimed runs before the timed ones */
#define REF_PAGEABLE_RUNS 3    /* timed runs of the pageable copies */
#define REF_HOSTCOPY_MIB 256   /* the pinned host copies of `bandwidth` */
#define REF_MAX_REPEAT 1000
#define REF_MAX_CHECKS 4       /* --check files */

static const char *ref_mode = "cublas_ref";

/* ---- errors ---- */

static void
ref_cuda(cudaError_t e, const char *call, int line)
{
	if (e != cudaSuccess) {
		fprintf(stderr, "cublas_ref %s: line %d: %s: %s\n", ref_mode, line, call,
		        cudaGetErrorString(e));
		exit(1);
	}
}

static void
ref_blas(cublasStatus_t s, const char *call, int line)
{
	if (s != CUBLAS_STATUS_SUCCESS) {
		fprintf(stderr, "cublas_ref %s: line %d: %s: %s\n", ref_mode, line, call,
		        cublasGetStatusString(s));
		exit(1);
	}
}

#define CK(call) ref_cuda((call), #call, __LINE__)
#define CB(call) ref_blas((call), #call, __LINE__)

static void
ref_usage(void)
{
	fprintf(stderr,
	        "usage: cublas_ref probe\n"
	        "       cublas_ref w1 M P Q N | w2 N D H C | w6 B I J K | w4 N D\n"
	        "                  [--repeat R] [--check FILE.npy] [--tol T]\n"
	        "       cublas_ref bandwidth [MIB] [--repeat R]\n");
	exit(2);
}

/* ---- trac's --random values (runtime/random.c) ---- */

static uint64_t
ref_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fills f[0..n) with what `--random=seed` gives the f32 input `name`. */
static void
ref_random(float *f, size_t n, uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the name */
	const char *s;
	uint64_t key;
	size_t k;

	for (s = name; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	key = ref_mix(ref_mix(seed) ^ h);
	for (k = 0; k < n; k++) {
		uint64_t bits = ref_mix(key + (k + 1) * 0x9e3779b97f4a7c15ull);
		f[k] = (float)((double)(bits >> 40) * 0x1p-23 - 1.0);
	}
}

/* ---- timing ---- */

typedef struct RefTimes {
	double best_ms, median_ms;
} RefTimes;

static int
ref_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Runs f warm times untimed, then reps times, each timed with events on
 * stream s: the best and the median. */
template <class F>
static RefTimes
ref_time(cudaStream_t s, int warm, int reps, F f)
{
	double ms[REF_MAX_REPEAT];
	cudaEvent_t a, b;
	RefTimes t;
	int i;

	CK(cudaEventCreate(&a));
	CK(cudaEventCreate(&b));
	for (i = 0; i < warm; i++)
		f();
	CK(cudaStreamSynchronize(s));
	for (i = 0; i < reps; i++) {
		float e;
		CK(cudaEventRecord(a, s));
		f();
		CK(cudaEventRecord(b, s));
		CK(cudaEventSynchronize(b));
		CK(cudaEventElapsedTime(&e, a, b));
		ms[i] = e;
	}
	CK(cudaGetLastError());
	CK(cudaEventDestroy(a));
	CK(cudaEventDestroy(b));
	qsort(ms, (size_t)reps, sizeof *ms, ref_cmp);
	t.best_ms = ms[0];
	t.median_ms = reps % 2 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
	return t;
}

/* ---- tensors: a pinned host copy, a pageable one, a device one ---- */

typedef struct RefTensor {
	const char *name;
	size_t n;        /* elements */
	float *host;     /* pinned */
	float *pageable; /* malloc'd, for the pageable copies */
	float *dev;
} RefTensor;

static void
ref_tensor(RefTensor *t, const char *name, size_t n, bool input)
{
	t->name = name;
	t->n = n;
	CK(cudaMallocHost((void **)&t->host, n * sizeof(float)));
	CK(cudaMalloc((void **)&t->dev, n * sizeof(float)));
	t->pageable = (float *)malloc(n * sizeof(float));
	if (!t->pageable) {
		fprintf(stderr, "cublas_ref %s: out of memory for %s (%zu floats)\n", ref_mode, name, n);
		exit(1);
	}
	if (input) {
		ref_random(t->host, n, 1, name);
		memcpy(t->pageable, t->host, n * sizeof(float));
	} else {
		memset(t->host, 0, n * sizeof(float));
		memset(t->pageable, 0, n * sizeof(float));
	}
}

static void
ref_tensor_free(RefTensor *t)
{
	CK(cudaFreeHost(t->host));
	CK(cudaFree(t->dev));
	free(t->pageable);
}

/* ---- kernels of the plain reference ---- */

__global__ void
ref_relu(float *x, size_t n)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	size_t stride = (size_t)gridDim.x * blockDim.x;

	for (; i < n; i += stride)
		x[i] = fmaxf(x[i], 0.0f);
}

#define REF_ROW_THREADS 256

/* The block's reduction of v by op (max or sum), broadcast to all. */
template <bool MAX>
__device__ float
ref_block_reduce(float v, float *shared)
{
	int t = threadIdx.x, s;

	shared[t] = v;
	__syncthreads();
	for (s = REF_ROW_THREADS / 2; s > 0; s /= 2) {
		if (t < s)
			shared[t] = MAX ? fmaxf(shared[t], shared[t + s]) : shared[t] + shared[t + s];
		__syncthreads();
	}
	v = shared[0];
	__syncthreads();
	return v;
}

/* P[i, :] = softmax(Y[i, :]), a block a row (in place is fine). */
__global__ void
ref_softmax(const float *y, float *p, int cols)
{
	__shared__ float shared[REF_ROW_THREADS];
	const float *row = y + (size_t)blockIdx.x * cols;
	float *out = p + (size_t)blockIdx.x * cols;
	float m = -INFINITY, s = 0.0f;
	int j;

	for (j = threadIdx.x; j < cols; j += REF_ROW_THREADS)
		m = fmaxf(m, row[j]);
	m = ref_block_reduce<true>(m, shared);
	for (j = threadIdx.x; j < cols; j += REF_ROW_THREADS)
		s += expf(row[j] - m);
	s = ref_block_reduce<false>(s, shared);
	for (j = threadIdx.x; j < cols; j += REF_ROW_THREADS)
		out[j] = expf(row[j] - m) / s;
}

/* Y[i] = sum_j exp(X[i, j] - max_k X[i, k]), a block a row. */
__global__ void
ref_lse(const float *x, float *y, int cols)
{
	__shared__ float shared[REF_ROW_THREADS];
	const float *row = x + (size_t)blockIdx.x * cols;
	float m = -INFINITY, s = 0.0f;
	int j;

	for (j = threadIdx.x; j < cols; j += REF_ROW_THREADS)
		m = fmaxf(m, row[j]);
	m = ref_block_reduce<true>(m, shared);
	for (j = threadIdx.x; j < cols; j += REF_ROW_THREADS)
		s += expf(row[j] - m);
	s = ref_block_reduce<false>(s, shared);
	if (threadIdx.x == 0)
		y[blockIdx.x] = s;
}

/* The copy kernel of `bandwidth`: 16 bytes a thread per step. */
__global__ void
ref_copy(const uint4 *__restrict__ src, uint4 *__restrict__ dst, size_t n)
{
	size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
	size_t stride = (size_t)gridDim.x * blockDim.x;

	for (; i < n; i += stride)
		dst[i] = src[i];
}

/* C[m, n] = A[m, k] B[k, n], row-major: column-major C^T = B^T A^T. */
static void
ref_gemm(cublasHandle_t h, int m, int n, int k, const float *a, const float *b, float *c)
{
	const float one = 1.0f, zero = 0.0f;

	CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, b, n, a, k, &zero, c, n));
}

/* ---- trac's output, read back from its .npy file ---- */

/* Reads an f32 C-order .npy of exactly n elements into a new buffer;
 * NULL and *why set when it is not one. */
static float *
ref_npy_read(const char *path, size_t n, const char **why)
{
	unsigned char pre[10];
	char *hdr = NULL;
	size_t hlen, count = 1;
	float *data = NULL;
	const char *shape;
	FILE *f = fopen(path, "rb");

	*why = "cannot open";
	if (!f)
		return NULL;
	*why = "not a .npy file";
	if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6) != 0)
		goto out;
	if (pre[6] == 1) {
		if (fread(pre + 8, 1, 2, f) != 2)
			goto out;
		hlen = pre[8] | (size_t)pre[9] << 8;
	} else {
		unsigned char l[4];
		if (fread(l, 1, 4, f) != 4)
			goto out;
		hlen = l[0] | (size_t)l[1] << 8 | (size_t)l[2] << 16 | (size_t)l[3] << 24;
	}
	hdr = (char *)calloc(hlen + 1, 1);
	if (!hdr || fread(hdr, 1, hlen, f) != hlen)
		goto out;
	*why = "not little-endian f32 in C order";
	if (!strstr(hdr, "'<f4'") || !strstr(hdr, "'fortran_order': False"))
		goto out;
	shape = strstr(hdr, "'shape': (");
	*why = "no shape";
	if (!shape)
		goto out;
	for (shape += 10; *shape && *shape != ')'; shape++)
		if (*shape >= '0' && *shape <= '9') {
			count *= strtoull(shape, (char **)&shape, 10);
			shape--;
		}
	*why = "the wrong number of elements";
	if (count != n)
		goto out;
	data = (float *)malloc(n * sizeof(float));
	*why = "short";
	if (data && fread(data, sizeof(float), n, f) != n) {
		free(data);
		data = NULL;
	}
out:
	free(hdr);
	fclose(f);
	return data;
}

static int ref_w2_arbitrate(const long *z, const RefTensor *t, const float *got, const RefTensor *out,
                            double *trac_err, double *ref_err);

/* The check line: trac's output in path against ours, out (inputs t,
 * sizes z). Where W2's differ by more than tol, double decides: W2's
 * logits reach about a thousand at bench's sizes, so two f32 GEMMs that
 * add in different orders (cuBLAS picks its kernel by shape, and a budget
 * cuts the rows into blocks) give softmax outputs that differ by several
 * 1e-4, each that far from the exact one; trac's output is then ok when
 * it is as accurate as cuBLAS's (ref_w2_arbitrate). */
static int
ref_check(const char *path, const long *z, const RefTensor *t, const RefTensor *out, double tol)
{
	const char *why;
	float *got = ref_npy_read(path, out->n, &why);
	double diff = 0, top = 0, err, te, re;
	size_t k;

	if (!got) {
		printf("check %s: error %s: %s\n", ref_mode, path, why);
		return 1;
	}
	for (k = 0; k < out->n; k++) {
		double d = fabs((double)got[k] - (double)out->host[k]);
		/* a NaN in either makes the error NaN: a mismatch */
		if (!(d <= diff))
			diff = d;
		if (fabs((double)out->host[k]) > top)
			top = fabs((double)out->host[k]);
	}
	err = diff / (top > 0 ? top : 1);
	if (err > tol && strcmp(ref_mode, "w2") == 0 && ref_w2_arbitrate(z, t, got, out, &te, &re) == 0) {
		bool ok = te <= fmax(tol, 2 * re);
		printf("check %s: %s err=%.3g file=%s (on the rows where the two differ most, the error against "
		       "double is %.3g, cuBLAS's %.3g: %s)\n", ref_mode, ok ? "ok" : "MISMATCH", err, path, te, re,
		       ok ? "as accurate" : "less accurate");
		free(got);
		return ok ? 0 : 1;
	}
	free(got);
	printf("check %s: %s err=%.3g file=%s\n", ref_mode, err <= tol ? "ok" : "MISMATCH", err, path);
	return err <= tol ? 0 : 1;
}

/* ---- the reference checks itself ---- */

/* Row i of w2's P = softmax(relu(X W1) W2), in double from the inputs in
 * t, into p (z[3] entries); returns the column of its largest entry, or
 * -1 (out of memory). */
static long
ref_w2_row(const long *z, const RefTensor *t, long i, double *p)
{
	double *hd = (double *)calloc((size_t)z[2], sizeof(double)), m = -INFINITY, sum = 0;
	long d, h, c, top_c = 0;

	if (!hd)
		return -1;
	for (d = 0; d < z[1]; d++)
		for (h = 0; h < z[2]; h++)
			hd[h] += (double)t[0].host[i * z[1] + d] * t[1].host[d * z[2] + h];
	for (c = 0; c < z[3]; c++)
		p[c] = 0;
	for (h = 0; h < z[2]; h++)
		for (c = 0; c < z[3]; c++)
			p[c] += fmax(hd[h], 0) * t[2].host[h * z[3] + c];
	for (c = 0; c < z[3]; c++)
		if (p[c] > m)
			m = p[c], top_c = c;
	for (c = 0; c < z[3]; c++)
		sum += (p[c] = exp(p[c] - m));
	for (c = 0; c < z[3]; c++)
		p[c] /= sum;
	free(hd);
	return top_c;
}

/* w2's part of ref_self: P[i, :] = softmax(relu(X[i, :] W1) W2) for the
 * first, a third, two thirds and the last row, each computed once in
 * double, compared at the first, a third, two thirds and the last
 * column and at the row's largest element. That last one matters: at
 * bench's sizes Y's entries spread by hundreds, P's rows are all but
 * one-hot, and the four fixed columns hold values like 1e-84 that f32
 * gives as 0; over those alone the normwise error was 1 whatever the GPU
 * did. With each row's largest P (1 / its sum) among them the error is
 * relative to P's scale, as --check's is, and the one entry of the row
 * that is not ~0 is checked. diff and top accumulate over the rows. */
static int
ref_self_w2(const long *z, const RefTensor *t, const RefTensor *out, double *diff, double *top)
{
	double *p = (double *)calloc((size_t)z[3], sizeof(double));
	int a, b;

	if (!p)
		return 1;
	for (a = 0; a < 4; a++) {
		long i = (z[0] - 1) * a / 3, top_c = ref_w2_row(z, t, i, p);
		if (top_c < 0) {
			free(p);
			return 1;
		}
		for (b = 0; b < 5; b++) { /* the four columns, then the row's largest */
			long c = b < 4 ? (z[3] - 1) * b / 3 : top_c;
			double want = p[c], got = out->host[i * z[3] + c];
			if (!(fabs(got - want) <= *diff))
				*diff = fabs(got - want);
			*top = fmax(*top, fabs(want));
		}
	}
	free(p);
	return 0;
}

/* W2's arbitration (ref_check): the REF_ARBITER_ROWS rows where trac's
 * output got and ours differ most, recomputed in double; each one's
 * largest error there over P's largest entry there. 0, or 1: out of
 * memory. */
#define REF_ARBITER_ROWS 16
static int
ref_w2_arbitrate(const long *z, const RefTensor *t, const float *got, const RefTensor *out,
                 double *trac_err, double *ref_err)
{
	long rows[REF_ARBITER_ROWS], i, c, r, n = 0;
	double worst[REF_ARBITER_ROWS], top = 0;
	double *p = (double *)calloc((size_t)z[3], sizeof(double));

	if (!p)
		return 1;
	for (i = 0; i < z[0]; i++) { /* the rows of the largest differences, kept in order */
		double d = 0;
		for (c = 0; c < z[3]; c++)
			d = fmax(d, fabs((double)got[i * z[3] + c] - out->host[i * z[3] + c]));
		if (n == REF_ARBITER_ROWS && !(d > worst[n - 1]))
			continue;
		for (r = n < REF_ARBITER_ROWS ? n++ : n - 1; r > 0 && worst[r - 1] < d; r--) {
			worst[r] = worst[r - 1];
			rows[r] = rows[r - 1];
		}
		worst[r] = d;
		rows[r] = i;
	}
	*trac_err = *ref_err = 0;
	for (r = 0; r < n; r++) {
		if (ref_w2_row(z, t, rows[r], p) < 0) {
			free(p);
			return 1;
		}
		for (c = 0; c < z[3]; c++) {
			*trac_err = fmax(*trac_err, fabs(got[rows[r] * z[3] + c] - p[c]));
			*ref_err = fmax(*ref_err, fabs(out->host[rows[r] * z[3] + c] - p[c]));
			top = fmax(top, p[c]);
		}
	}
	*trac_err /= top > 0 ? top : 1;
	*ref_err /= top > 0 ? top : 1;
	free(p);
	return 0;
}

/* The GPU's output, out, checked on the host: 16 of its elements (the
 * first, a third, two thirds and the last of its rows and columns, or
 * of batches, rows and columns; w2: 20, see ref_self_w2) computed in double from the inputs in t, and the
 * normwise relative error over them. So a wrong GEMM call in this file
 * shows as itself, not as a mismatch with trac. */
static double
ref_self(const char *name, const long *z, const RefTensor *t, const RefTensor *out)
{
	double diff = 0, top = 0;
	int a, b;

	if (strcmp(name, "w2") == 0) {
		if (ref_self_w2(z, t, out, &diff, &top) != 0)
			return INFINITY;
		return diff / (top > 0 ? top : 1);
	}
	for (a = 0; a < 4; a++)
		for (b = 0; b < 4; b++) {
			double want = 0, got;
			if (strcmp(name, "w1") == 0) { /* D[i, l] = sum_j A[i,j] sum_k B[j,k] C[k,l] */
				long i = (z[0] - 1) * a / 3, l = (z[3] - 1) * b / 3, j, k;
				for (j = 0; j < z[1]; j++) {
					double bc = 0;
					for (k = 0; k < z[2]; k++)
						bc += (double)t[1].host[j * z[2] + k] * t[2].host[k * z[3] + l];
					want += t[0].host[i * z[1] + j] * bc;
				}
				got = out->host[i * z[3] + l];
			} else if (strcmp(name, "w6") == 0) { /* Z[bb, i, k] = sum_j X[bb,i,j] Y[bb,j,k] */
				long bb = (z[0] - 1) * a / 3, i = (z[1] - 1) * b / 3, j;
				long k = (z[3] - 1) * ((a + b + 1) % 4) / 3;
				for (j = 0; j < z[2]; j++)
					want += (double)t[0].host[(bb * z[1] + i) * z[2] + j] *
					        t[1].host[(bb * z[2] + j) * z[3] + k];
				got = out->host[(bb * z[1] + i) * z[3] + k];
			} else { /* w4: Y[i] */
				long i = (z[0] - 1) * (a * 4 + b) / 15, j;
				double m = -INFINITY;
				for (j = 0; j < z[1]; j++)
					m = fmax(m, t[0].host[i * z[1] + j]);
				for (j = 0; j < z[1]; j++)
					want += exp(t[0].host[i * z[1] + j] - m);
				got = out->host[i];
			}
			if (!(fabs(got - want) <= diff))
				diff = fabs(got - want);
			top = fmax(top, fabs(want));
		}
	return diff / (top > 0 ? top : 1);
}

/* ---- the workloads ---- */

typedef struct RefOpts {
	long size[4];      /* the workload's sizes, in the order of its usage */
	int nsizes;
	int repeat;
	const char *check[REF_MAX_CHECKS]; /* trac's outputs to check */
	int nchecks;
	double tol;
} RefOpts;

/* What one workload is: its tensors, the last one the output, and the
 * computation on device buffers. */
typedef struct RefWork {
	RefTensor t[6];
	int nin, nt;       /* inputs t[0..nin), then intermediates, the output last */
	double flops;
} RefWork;

static void
ref_copies(cudaStream_t s, RefWork *w, const RefOpts *o, RefTimes *h2d, RefTimes *d2h,
           double *h2d_page, double *d2h_page)
{
	RefTensor *out = &w->t[w->nt - 1];
	int i;

	*h2d = ref_time(s, 1, o->repeat, [&] {
		for (int k = 0; k < w->nin; k++)
			CK(cudaMemcpyAsync(w->t[k].dev, w->t[k].host, w->t[k].n * sizeof(float),
			                   cudaMemcpyHostToDevice, s));
	});
	*d2h = ref_time(s, 1, o->repeat, [&] {
		CK(cudaMemcpyAsync(out->host, out->dev, out->n * sizeof(float), cudaMemcpyDeviceToHost, s));
	});
	/* pageable: cudaMemcpy is synchronous (and on the legacy stream) */
	*h2d_page = ref_time(0, 1, REF_PAGEABLE_RUNS, [&] {
		for (int k = 0; k < w->nin; k++)
			CK(cudaMemcpy(w->t[k].dev, w->t[k].pageable, w->t[k].n * sizeof(float),
			              cudaMemcpyHostToDevice));
	}).best_ms;
	*d2h_page = ref_time(0, 1, REF_PAGEABLE_RUNS, [&] {
		CK(cudaMemcpy(out->pageable, out->dev, out->n * sizeof(float), cudaMemcpyDeviceToHost));
	}).best_ms;
	for (i = 0; i < w->nin; i++) /* the inputs as the computation wants them */
		CK(cudaMemcpy(w->t[i].dev, w->t[i].host, w->t[i].n * sizeof(float),
		              cudaMemcpyHostToDevice));
}

static int
ref_workload(const char *name, const RefOpts *o)
{
	const long *z = o->size;
	cudaStream_t s;
	cublasHandle_t h;
	RefWork w;
	RefTimes compute, h2d, d2h;
	double h2d_page, d2h_page, in_bytes = 0, total, gflop, self;
	RefTensor *t = w.t;
	int i, rc = 0;

	memset(&w, 0, sizeof w);
	CK(cudaStreamCreate(&s));
	CB(cublasCreate(&h));
	CB(cublasSetStream(h, s));
	CB(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH)); /* f32: no TF32 */
	if (strcmp(name, "w1") == 0) { /* M P Q N: A[M,P] B[P,Q] C[Q,N] */
		long m = z[0], p = z[1], q = z[2], n = z[3];
		ref_tensor(&t[0], "A", (size_t)(m * p), true);
		ref_tensor(&t[1], "B", (size_t)(p * q), true);
		ref_tensor(&t[2], "C", (size_t)(q * n), true);
		ref_tensor(&t[3], "T", (size_t)(p * n), false);
		ref_tensor(&t[4], "D", (size_t)(m * n), false);
		w.nin = 3, w.nt = 5;
		w.flops = fmin(2.0 * m * p * q + 2.0 * m * q * n, 2.0 * p * q * n + 2.0 * m * p * n);
	} else if (strcmp(name, "w2") == 0) { /* N D H C: X[N,D] W1[D,H] W2[H,C] */
		long n = z[0], d = z[1], hh = z[2], c = z[3];
		ref_tensor(&t[0], "X", (size_t)(n * d), true);
		ref_tensor(&t[1], "W1", (size_t)(d * hh), true);
		ref_tensor(&t[2], "W2", (size_t)(hh * c), true);
		ref_tensor(&t[3], "Hd", (size_t)(n * hh), false);
		ref_tensor(&t[4], "P", (size_t)(n * c), false);
		w.nin = 3, w.nt = 5;
		w.flops = 2.0 * n * d * hh + (double)n * hh + 2.0 * n * hh * c + 5.0 * n * c;
	} else if (strcmp(name, "w6") == 0) { /* B I J K: X[B,I,J] Y[B,J,K] */
		long b = z[0], ii = z[1], j = z[2], k = z[3];
		ref_tensor(&t[0], "X", (size_t)(b * ii * j), true);
		ref_tensor(&t[1], "Y", (size_t)(b * j * k), true);
		ref_tensor(&t[2], "Z", (size_t)(b * ii * k), false);
		w.nin = 2, w.nt = 3;
		w.flops = 2.0 * b * ii * j * k;
	} else { /* w4, N D: X[N,D] */
		ref_tensor(&t[0], "X", (size_t)(z[0] * z[1]), true);
		ref_tensor(&t[1], "Y", (size_t)z[0], false);
		w.nin = 1, w.nt = 2;
		w.flops = 4.0 * z[0] * z[1];
	}
	ref_copies(s, &w, o, &h2d, &d2h, &h2d_page, &d2h_page);
	compute = ref_time(s, REF_WARMUP, o->repeat, [&] {
		if (strcmp(name, "w1") == 0) {
			ref_gemm(h, (int)z[1], (int)z[3], (int)z[2], t[1].dev, t[2].dev, t[3].dev);
			ref_gemm(h, (int)z[0], (int)z[3], (int)z[1], t[0].dev, t[3].dev, t[4].dev);
		} else if (strcmp(name, "w2") == 0) {
			ref_gemm(h, (int)z[0], (int)z[2], (int)z[1], t[0].dev, t[1].dev, t[3].dev);
			ref_relu<<<1024, 256, 0, s>>>(t[3].dev, t[3].n);
			ref_gemm(h, (int)z[0], (int)z[3], (int)z[2], t[3].dev, t[2].dev, t[4].dev);
			ref_softmax<<<(unsigned)z[0], REF_ROW_THREADS, 0, s>>>(t[4].dev, t[4].dev, (int)z[3]);
		} else if (strcmp(name, "w6") == 0) {
			const float one = 1.0f, zero = 0.0f;
			int b = (int)z[0], ii = (int)z[1], j = (int)z[2], k = (int)z[3];
			CB(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, k, ii, j, &one,
			                             t[1].dev, k, (long long)j * k, t[0].dev, j,
			                             (long long)ii * j, &zero, t[2].dev, k,
			                             (long long)ii * k, b));
		} else {
			ref_lse<<<(unsigned)z[0], REF_ROW_THREADS, 0, s>>>(t[0].dev, t[1].dev, (int)z[1]);
		}
	});
	CK(cudaMemcpy(t[w.nt - 1].host, t[w.nt - 1].dev, t[w.nt - 1].n * sizeof(float),
	              cudaMemcpyDeviceToHost));
	self = ref_self(name, z, t, &t[w.nt - 1]);
	for (i = 0; i < w.nin; i++)
		in_bytes += (double)t[i].n * sizeof(float);
	total = compute.best_ms + h2d.best_ms + d2h.best_ms;
	gflop = w.flops / 1e9;
	printf("ref %s: gflop=%.6f compute_ms=%.6f compute_median_ms=%.6f h2d_ms=%.6f d2h_ms=%.6f "
	       "h2d_pageable_ms=%.6f d2h_pageable_ms=%.6f total_ms=%.6f in_bytes=%.0f out_bytes=%.0f "
	       "gflops=%.1f gflops_total=%.1f math=default self_err=%.3g self=%s\n",
	       name, gflop, compute.best_ms, compute.median_ms, h2d.best_ms, d2h.best_ms, h2d_page,
	       d2h_page, total, in_bytes, (double)t[w.nt - 1].n * sizeof(float),
	       gflop / (compute.best_ms * 1e-3), gflop / (total * 1e-3), self,
	       self <= o->tol ? "ok" : "MISMATCH");
	if (!(self <= o->tol))
		rc = 1;
	for (i = 0; i < o->nchecks; i++)
		if (ref_check(o->check[i], z, t, &t[w.nt - 1], o->tol) != 0)
			rc = 1;
	fflush(stdout);
	for (i = 0; i < w.nt; i++)
		ref_tensor_free(&t[i]);
	CB(cublasDestroy(h));
	CK(cudaStreamDestroy(s));
	return rc;
}

/* ---- bandwidth ---- */

static int
ref_bandwidth(const RefOpts *o)
{
	size_t bytes = (size_t)(o->nsizes > 0 ? o->size[0] : 1024) << 20;
	size_t host_bytes = (size_t)REF_HOSTCOPY_MIB << 20;
	size_t n = bytes / sizeof(uint4);
	static const int threads[] = {256, 512, 1024};
	static const int per_sm[] = {2, 4, 8, 16};
	cudaStream_t s;
	cudaDeviceProp prop;
	void *src, *dst, *host;
	double best = 1e30, memcpy_ms, h2d_ms, d2h_ms;
	unsigned ti, pi;

	CK(cudaGetDeviceProperties(&prop, 0));
	CK(cudaStreamCreate(&s));
	CK(cudaMalloc(&src, bytes));
	CK(cudaMalloc(&dst, bytes));
	CK(cudaMemset(src, 1, bytes));
	CK(cudaMemset(dst, 0, bytes));
	for (ti = 0; ti < sizeof threads / sizeof *threads; ti++)
		for (pi = 0; pi < sizeof per_sm / sizeof *per_sm; pi++) {
			unsigned blocks = (unsigned)(prop.multiProcessorCount * per_sm[pi]);
			double ms = ref_time(s, 1, o->repeat, [&] {
				ref_copy<<<blocks, threads[ti], 0, s>>>((const uint4 *)src, (uint4 *)dst, n);
			}).best_ms;
			if (ms < best)
				best = ms;
		}
	memcpy_ms = ref_time(s, 1, o->repeat, [&] {
		CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
	}).best_ms;
	CK(cudaMallocHost(&host, host_bytes));
	memset(host, 0, host_bytes);
	h2d_ms = ref_time(s, 1, o->repeat, [&] {
		CK(cudaMemcpyAsync(dst, host, host_bytes, cudaMemcpyHostToDevice, s));
	}).best_ms;
	d2h_ms = ref_time(s, 1, o->repeat, [&] {
		CK(cudaMemcpyAsync(host, src, host_bytes, cudaMemcpyDeviceToHost, s));
	}).best_ms;
	printf("bandwidth: bytes=%zu copy_ms=%.6f copy_gbps=%.1f memcpy_gbps=%.1f h2d_gbps=%.1f "
	       "d2h_gbps=%.1f\n", bytes, best, 2.0 * bytes / (best * 1e6),
	       2.0 * bytes / (memcpy_ms * 1e6), host_bytes / (h2d_ms * 1e6),
	       host_bytes / (d2h_ms * 1e6));
	CK(cudaFreeHost(host));
	CK(cudaFree(src));
	CK(cudaFree(dst));
	CK(cudaStreamDestroy(s));
	return 0;
}

/* ---- probe ---- */

static int
ref_probe(void)
{
	cudaDeviceProp prop;
	cublasHandle_t h;
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess || n < 1) {
		printf("probe: no GPU: %s\n", e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
		return 1;
	}
	e = cudaGetDeviceProperties(&prop, 0);
	if (e == cudaSuccess)
		e = cudaFree(0); /* makes the context */
	if (e != cudaSuccess) {
		printf("probe: GPU 0 unusable: %s\n", cudaGetErrorString(e));
		return 1;
	}
	if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
		printf("probe: cuBLAS does not start on GPU 0\n");
		return 1;
	}
	cublasDestroy(h);
	printf("probe: gpus=%d name=\"%s\" sm=%d.%d memory=%zu sms=%d\n", n, prop.name, prop.major,
	       prop.minor, prop.totalGlobalMem, prop.multiProcessorCount);
	return 0;
}

/* ---- the command line ---- */

static long
ref_number(const char *s, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "cublas_ref: bad number '%s' (%ld to %ld)\n", s, lo, hi);
		ref_usage();
	}
	return v;
}

int
main(int argc, char **argv)
{
	RefOpts o;
	int want, i;

	memset(&o, 0, sizeof o);
	o.repeat = 10;
	o.tol = 1e-4;
	if (argc < 2)
		ref_usage();
	ref_mode = argv[1];
	if (strcmp(ref_mode, "probe") == 0)
		return argc == 2 ? ref_probe() : (ref_usage(), 2);
	if (strcmp(ref_mode, "w4") == 0)
		want = 2;
	else if (!strcmp(ref_mode, "w1") || !strcmp(ref_mode, "w2") || !strcmp(ref_mode, "w6"))
		want = 4;
	else if (strcmp(ref_mode, "bandwidth") == 0)
		want = -1; /* MIB is optional */
	else
		ref_usage();
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			o.repeat = (int)ref_number(argv[++i], 1, REF_MAX_REPEAT);
		else if (strcmp(argv[i], "--check") == 0 && i + 1 < argc && want > 0 &&
		         o.nchecks < REF_MAX_CHECKS)
			o.check[o.nchecks++] = argv[++i];
		else if (strcmp(argv[i], "--tol") == 0 && i + 1 < argc)
			o.tol = atof(argv[++i]);
		else if (argv[i][0] != '-' && o.nsizes < (want > 0 ? want : 1))
			o.size[o.nsizes++] = ref_number(argv[i], 1, 1L << 20);
		else
			ref_usage();
	}
	if (want > 0 && o.nsizes != want)
		ref_usage();
	CK(cudaSetDevice(0));
	return want < 0 ? ref_bandwidth(&o) : ref_workload(ref_mode, &o);
}
