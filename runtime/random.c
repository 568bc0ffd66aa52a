/* random.c: the values behind `--random[=SEED]`.
 *
 * Every element is a pure function of (seed, tensor name, element index),
 * a counter-based generator: nothing is carried from one element to the
 * next, so any block of a tensor can be filled on its own, in parallel
 * or on another rank, and get the same numbers as a fill of the whole;
 * and because the name goes in rather than the order inputs are drawn
 * in, adding an input to a program does not change the others. All
 * arithmetic is on uint64_t modulo 2^64 and the conversions are exact,
 * so the values are the same on every machine and compiler.
 *
 * The algorithm, precisely (tests/trart_random.py reproduces it):
 *
 *   fnv1a64(name):  h = 0xcbf29ce484222325
 *                   for each byte b of the name (UTF-8, no terminator):
 *                       h = (h ^ b) * 0x100000001b3
 *   mix(z):         z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *                   z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *                   return z ^ (z >> 31)           (splitmix64's finaliser)
 *   key           = mix(mix(seed) ^ fnv1a64(name))
 *   x[k]          = mix(key + (k + 1) * 0x9e3779b97f4a7c15)
 *
 * so x[0], x[1], ... is exactly the output of splitmix64 started from
 * state `key`, except that element k is computed directly. Then
 *
 *   f32:  u = x[k] >> 40   (top 24 bits)   value = (float)(u * 2^-23 - 1)
 *   f64:  u = x[k] >> 11   (top 53 bits)   value = u * 2^-52 - 1
 *
 * computed in double; both are exact (u * 2^-23 - 1 has at most 24
 * significant bits), giving every multiple of 2^-23 (resp. 2^-52) in
 * [-1, 1) with equal probability.
 *
 *   i32, i64:  value = (x[k] >> 57) - 64   (top 7 bits)
 *
 * every integer in [-64, 64) with equal probability: small enough that
 * products and sums of a few stay far from overflow; and an index a
 * gather reads, below a dimension of n elements (trart_random_index):
 *
 *   value = (x[k] >> 11) mod n   (top 53 bits)
 */
#define _POSIX_C_SOURCE 200809L

#include "trart.h"

#define RANDOM_FNV_OFFSET 0xcbf29ce484222325u /* FNV-1a 64-bit basis */
#define RANDOM_FNV_PRIME 0x100000001b3u       /* FNV-1a 64-bit prime */
#define RANDOM_GAMMA 0x9e3779b97f4a7c15u      /* splitmix64's increment */

/* FNV-1a over the bytes of a C string. */
static uint64_t
random_fnv1a64(const char *s)
{
	uint64_t h = RANDOM_FNV_OFFSET;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * RANDOM_FNV_PRIME;
	return h;
}

/* splitmix64's output function: a bijection that scrambles every bit. */
static uint64_t
random_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The 64 random bits of element k of the stream `key`. */
static uint64_t
random_bits(uint64_t key, uint64_t k)
{
	return random_mix(key + (k + 1) * RANDOM_GAMMA);
}

void
trart_random_index(void *data, TrartDtype t, size_t n, uint64_t seed,
                   const char *name, int64_t below)
{
	uint64_t key = random_mix(random_mix(seed) ^
	                          random_fnv1a64(name ? name : ""));
	size_t k;

	for (k = 0; k < n; k++) {
		int64_t v = (int64_t)((random_bits(key, k) >> 11) % (uint64_t)below);
		if (t == TRART_I32)
			((int32_t *)data)[k] = (int32_t)v;
		else
			((int64_t *)data)[k] = v;
	}
}

void
trart_random_fill(void *data, TrartDtype t, size_t n, uint64_t seed,
                  const char *name)
{
	uint64_t key = random_mix(random_mix(seed) ^
	                          random_fnv1a64(name ? name : ""));
	size_t k;

	if (TRART_IS_INT(t)) {
		/* integers: uniform in [-64, 64) */
		for (k = 0; k < n; k++) {
			int64_t v = (int64_t)(random_bits(key, k) >> 57) - 64;
			if (t == TRART_I32)
				((int32_t *)data)[k] = (int32_t)v;
			else
				((int64_t *)data)[k] = v;
		}
	} else if (t == TRART_F64) {
		double *d = data;
		for (k = 0; k < n; k++)
			d[k] = (double)(random_bits(key, k) >> 11) * 0x1p-52 - 1.0;
	} else {
		float *f = data;
		for (k = 0; k < n; k++)
			f[k] = (float)((double)(random_bits(key, k) >> 40) * 0x1p-23
			               - 1.0);
	}
}
