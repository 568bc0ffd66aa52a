/* rt_prog.c: a hand-written stand-in for a program trac generates, so
 * the runtime's command line, executor and worker pool can be tested
 * (by tests/runtime.sh) without the code generator. It is what trac
 * would make of
 *
 *   input X[5, 3], s
 *   input Z[4] f64
 *   T[i, j] = X[i, j] * s
 *   Y[i] = sum[j](T[i, j])
 *   output Y, Z
 *
 * with T a temporary, Z an input passed through as an output (an
 * INOUT), and both kernels splitting their rows with trart_parallel_for
 * so that every --threads count cuts the loops differently. Each result
 * element is computed by one thread, in a fixed order
 * ((T[i,0] + T[i,1]) + T[i,2]), so the output bytes are the same on any
 * number of threads and equal NumPy's float32 arithmetic done the same
 * way.
 */
#include "trart.h"

/* The tensors, indexing the buffers the kernels get. */
enum {
	RT_X,        /* input X[5, 3] f32 */
	RT_S,        /* input s, a scalar f32 */
	RT_T,        /* temp T[5, 3] f32 = X * s */
	RT_Y,        /* output Y[5] f32 = row sums of T */
	RT_Z,        /* input and output Z[4] f64, passed through */
	RT_NTENSORS,
};

#define RT_ROWS 5
#define RT_COLS 3

static const int64_t rt_shape_x[] = {RT_ROWS, RT_COLS};
static const int64_t rt_shape_y[] = {RT_ROWS};
static const int64_t rt_shape_z[] = {4};

static const TrartTensor rt_tensors[RT_NTENSORS] = {
	[RT_X] = {"X", TRART_F32, 2, rt_shape_x, TRART_INPUT},
	[RT_S] = {"s", TRART_F32, 0, NULL, TRART_INPUT},
	[RT_T] = {"T", TRART_F32, 2, rt_shape_x, TRART_TEMP},
	[RT_Y] = {"Y", TRART_F32, 1, rt_shape_y, TRART_OUTPUT},
	[RT_Z] = {"Z", TRART_F64, 1, rt_shape_z, TRART_INOUT},
};

/* T[i, j] = X[i, j] * s for the rows [lo, hi). */
static void
rt_scale_rows(int64_t lo, int64_t hi, void *ctx)
{
	void *const *bufs = ctx;
	const float *x = bufs[RT_X];
	float s = *(const float *)bufs[RT_S], *t = bufs[RT_T];
	int64_t k;

	for (k = lo * RT_COLS; k < hi * RT_COLS; k++)
		t[k] = x[k] * s;
}

/* Y[i] = (T[i, 0] + T[i, 1]) + T[i, 2] for the rows [lo, hi). */
static void
rt_sum_rows(int64_t lo, int64_t hi, void *ctx)
{
	void *const *bufs = ctx;
	const float *t = bufs[RT_T];
	float *y = bufs[RT_Y];
	int64_t i;

	for (i = lo; i < hi; i++)
		y[i] = (t[i * RT_COLS] + t[i * RT_COLS + 1]) + t[i * RT_COLS + 2];
}

static void
rt_kernel_t(void *const *bufs)
{
	trart_parallel_for(RT_ROWS, rt_scale_rows, (void *)bufs);
}

static void
rt_kernel_y(void *const *bufs)
{
	trart_parallel_for(RT_ROWS, rt_sum_rows, (void *)bufs);
}

static const TrartKernel rt_kernels[] = {
	/* 15 products; reads X and s, writes T */
	{"T", rt_kernel_t, RT_T, 15, (15 + 1 + 15) * 4},
	/* 10 additions; reads T, writes Y */
	{"Y", rt_kernel_y, RT_Y, 10, (15 + 5) * 4},
};

static const TrartProgram rt_program = {
	"rt_prog", "test", RT_NTENSORS, rt_tensors,
	(int)(sizeof rt_kernels / sizeof rt_kernels[0]), rt_kernels,
};

int
main(int argc, char **argv)
{
	return trart_main(&rt_program, argc, argv);
}
