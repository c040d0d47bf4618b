// Element-wise and row operations of the transformer forward pass (f32). Each has a scalar
// reference in namespace tq::ref (kernels/ref/ops_ref.cc) that the tests compare against.
#pragma once

#include <cstdint>

namespace tq {

// out[i] = x[i] / sqrt(mean(x²) + eps) * w[i] for each of n_rows rows of n elements.
// x, out: [n_rows, n]; w: [n]. out may alias x.
void rmsnorm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out);

// In place: x[i] = exp(x[i] - max) / sum_j exp(x[j] - max). n >= 1.
void softmax(float* x, int64_t n);

// In place: gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
void silu_mul(float* gate, const float* up, int64_t n);

// log(sum_i exp(x[i])) computed stably (max subtracted), f32 exp with f32 lane sums; n >= 1.
// Relative error ~1e-7 (the perplexity NLL: lse - x[target]).
double logsumexp(const float* x, int64_t n);

// y[i] += x[i].
void add_inplace(float* y, const float* x, int64_t n);

// Rotate-half ("NEOX") RoPE on one token's heads, in place. x: [n_heads, head_dim]; the first n_rot
// dimensions of each head are rotated as pairs (i, i + n_rot/2) by the angle whose cosine/sine are
// cos_sin[2*i], cos_sin[2*i + 1] (i < n_rot/2).
void rope_neox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);

namespace ref {
void rmsnorm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out);
void softmax(float* x, int64_t n);
void silu_mul(float* gate, const float* up, int64_t n);
double logsumexp(const float* x, int64_t n);
}  // namespace ref

}  // namespace tq
