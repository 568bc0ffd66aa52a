// use_scale_cpp.cpp: C++ links library mode's object: the header's
// extern "C" guards (and trart.h's) give scale() and trart_shutdown() C
// linkage; the shape macros size std::vector buffers.
#include <cmath>
#include <cstdio>
#include <vector>

#include "scale.h"

int main()
{
	std::vector<scale_A_t> A(scale_A_ELEMENTS), B(scale_B_ELEMENTS);
	std::vector<scale_C_t> C(scale_C_ELEMENTS);
	std::vector<scale_R_t> R(scale_R_ELEMENTS);
	float alpha = 2.0f;
	const int64_t a_shape[] = scale_A_SHAPE, b_shape[] = scale_B_SHAPE;
	const int64_t n = a_shape[0], k = a_shape[1], m = b_shape[1];
	for (size_t i = 0; i < A.size(); i++)
		A[i] = 0.25f * static_cast<float>(i) - 1.0f;
	for (size_t i = 0; i < B.size(); i++)
		B[i] = 0.5f - 0.125f * static_cast<float>(i);
	const void *in[scale_NUM_INPUTS] = {A.data(), B.data(), &alpha};
	void *out[scale_NUM_OUTPUTS] = {C.data(), R.data()};
	bool ok = scale(in, out, 1) == 0 && scale_inputs[0].dtype == TRART_F32;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < m; j++) {
			float s = 0;
			for (int64_t q = 0; q < k; q++)
				s += A[i * k + q] * B[q * m + j];
			ok = ok && std::fabs(C[i * m + j] - alpha * s) <= 1e-5f * (1 + std::fabs(s));
		}
	trart_shutdown();
	std::printf("%s C++ links and runs scale()\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
