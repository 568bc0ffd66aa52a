/* use_scale.c: links scale.o (from scale.tra by `trac -c`) and checks
 * its results and its tensor descriptions against a plain loop, then
 * calls it from four threads at once, as scale.h says one may. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "scale.h"

/* One thread's call: alpha is its own, so a mix-up shows in C. */
typedef struct Call {
	float A[3][4], B[4][2], alpha, C[3][2], R[3];
	int rc, ok;
} Call;

static void *call_scale(void *arg)
{
	Call *c = arg;
	const void *in[scale_NUM_INPUTS] = {c->A, c->B, &c->alpha};
	void *out[scale_NUM_OUTPUTS] = {c->C, c->R};
	c->ok = 1;
	for (int r = 0; r < 200 && c->ok; r++) {
		c->rc |= scale(in, out, 2);
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 2; j++) {
				float s = 0;
				for (int k = 0; k < 4; k++)
					s += c->A[i][k] * c->B[k][j];
				c->ok &= fabsf(c->C[i][j] - c->alpha * s) <= 1e-5f * (1 + fabsf(s));
			}
	}
	return NULL;
}

/* Four threads calling scale() at once, each with its own alpha. */
static int concurrent_calls(void)
{
	Call calls[4];
	pthread_t t[4];
	int ok = 1;
	for (int n = 0; n < 4; n++) {
		for (int i = 0; i < 3; i++)
			for (int k = 0; k < 4; k++)
				calls[n].A[i][k] = (float)(i - k) * 0.5f;
		for (int k = 0; k < 4; k++)
			for (int j = 0; j < 2; j++)
				calls[n].B[k][j] = (float)(k + j);
		calls[n].alpha = (float)(n + 1);
		calls[n].rc = 0;
		if (pthread_create(&t[n], NULL, call_scale, &calls[n]) != 0)
			return 0;
	}
	for (int n = 0; n < 4; n++) {
		pthread_join(t[n], NULL);
		ok &= calls[n].rc == 0 && calls[n].ok;
	}
	return ok;
}

static int check(const char *what, int ok)
{
	printf("%s %s\n", ok ? "PASS" : "FAIL", what);
	return !ok;
}

int main(void)
{
	float A[3][4], B[4][2], alpha = 0.5f, C[3][2], R[3];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 4; k++)
			A[i][k] = (float)(i + 1) * 0.25f - (float)k;
	for (int k = 0; k < 4; k++)
		for (int j = 0; j < 2; j++)
			B[k][j] = (float)(k - j) * 0.5f;
	const void *in[scale_NUM_INPUTS] = {A, B, &alpha};
	void *out[scale_NUM_OUTPUTS] = {C, R};
	int bad = 0;
	bad += check("inputs described", scale_NUM_INPUTS == 3 && strcmp(scale_inputs[0].name, "A") == 0 &&
	             scale_inputs[0].rank == 2 && scale_inputs[0].shape[1] == 4 &&
	             scale_inputs[2].rank == 0 && scale_inputs[2].dtype == TRART_F32);
	static const int64_t a_shape[] = scale_A_SHAPE;
	scale_C_t c_typed[scale_C_ELEMENTS];
	bad += check("shape macros", scale_A_RANK == 2 && a_shape[0] == 3 && a_shape[1] == 4 &&
	             scale_A_ELEMENTS == 12 && scale_A_DTYPE == TRART_F32 && scale_alpha_RANK == 0 &&
	             scale_alpha_ELEMENTS == 1 && sizeof c_typed == scale_C_ELEMENTS * sizeof(float));
	bad += check("outputs described", scale_NUM_OUTPUTS == 2 && strcmp(scale_outputs[1].name, "R") == 0 &&
	             scale_outputs[1].rank == 1 && scale_outputs[1].shape[0] == 3);
	bad += check("returns 0", scale(in, out, 2) == 0);
	int ok = 1;
	for (int i = 0; i < 3; i++) {
		float rmax = -INFINITY;
		for (int j = 0; j < 2; j++) {
			float s = 0;
			for (int k = 0; k < 4; k++)
				s += A[i][k] * B[k][j];
			s *= alpha;
			ok &= fabsf(C[i][j] - s) <= 1e-5f * (1 + fabsf(s));
			rmax = s > rmax ? s : rmax;
		}
		ok &= fabsf(R[i] - rmax) <= 1e-5f * (1 + fabsf(rmax));
	}
	bad += check("results", ok);
	bad += check("runs again", scale(in, out, 1) == 0);
	bad += check("concurrent calls", concurrent_calls());
	trart_shutdown();
	return bad != 0;
}
