/* scratch.c: kernels' temporary memory.
 *
 * Generated kernels call these for permuted copies of GEMM operands.
 * Memory is 64-byte aligned (a cache line; what AVX-512 loads like), and
 * running out of it ends the program with a message rather than a crash
 * inside a kernel.
 */
#define _POSIX_C_SOURCE 200809L
#include "trart.h"
#include "exec.h"

#include <stdlib.h>

void *trart_scratch(size_t bytes)
{
	const char *tensor = trart_mem_tensor();
	void *p = NULL;

	if (posix_memalign(&p, 64, bytes ? bytes : 64) == 0)
		return p;
	if (tensor)
		trart_out_of_memory((double)bytes, "scratch space of tensor %s", tensor);
	trart_out_of_memory((double)bytes, "scratch space");
}

void trart_scratch_free(void *p)
{
	free(p);
}
