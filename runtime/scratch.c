/* scratch.c: kernels' temporary memory.
 *
 * Generated kernels call these for permuted copies of GEMM operands.
 * Memory is 64-byte aligned (a cache line; what AVX-512 loads like), and
 * running out of it ends the program with a message rather than a crash
 * inside a kernel.
 */
#define _POSIX_C_SOURCE 200809L
#include "trart.h"

#include <stdio.h>
#include <stdlib.h>

void *trart_scratch(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
		fprintf(stderr, "error: out of memory allocating %zu bytes of scratch\n", bytes);
		exit(1);
	}
	return p;
}

void trart_scratch_free(void *p)
{
	free(p);
}
