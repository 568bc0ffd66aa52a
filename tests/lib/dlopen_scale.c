/* dlopen_scale.c: loads the shared library `trac --shared` made, as a
 * plugin host would (RTLD_NOW | RTLD_LOCAL), finds scale() and its
 * tensor tables by name, and checks a run against a plain loop. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>

#include "libscale.h"

typedef int (*ScaleFn)(const void *const *, void *const *, int);

int main(int argc, char **argv)
{
	void *h = dlopen(argc > 1 ? argv[1] : "./libscale.so", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("FAIL dlopen: %s\n", dlerror());
		return 1;
	}
	ScaleFn fn = (ScaleFn)dlsym(h, "scale");
	const trac_tensor_info *ins = (const trac_tensor_info *)dlsym(h, "scale_inputs");
	void (*shutdown)(void) = (void (*)(void))dlsym(h, "trart_shutdown");
	if (!fn || !ins || !shutdown) {
		printf("FAIL dlsym: %s\n", dlerror());
		return 1;
	}
	float A[3][4], B[4][2], alpha = -1.5f, C[3][2], R[3];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 4; k++)
			A[i][k] = (float)(i * 4 + k) * 0.1f;
	for (int k = 0; k < 4; k++)
		for (int j = 0; j < 2; j++)
			B[k][j] = (float)(k - 2 * j);
	const void *in[] = {A, B, &alpha};
	void *out[] = {C, R};
	int ok = fn(in, out, 2) == 0 && ins[0].rank == 2 && ins[0].shape[1] == 4;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++) {
			float s = 0;
			for (int k = 0; k < 4; k++)
				s += A[i][k] * B[k][j];
			ok &= fabsf(C[i][j] - alpha * s) <= 1e-5f * (1 + fabsf(s));
		}
	shutdown();
	dlclose(h);
	printf("%s dlopen runs scale() from the shared library\n", ok ? "PASS" : "FAIL");
	return !ok;
}
