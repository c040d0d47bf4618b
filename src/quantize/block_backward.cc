// The backward of the quantizer's block (quantize/block.h): the derivative of runtime/forward.cc's
// block, op by op, from the tape its forward kept.
#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/ops.h"
#include "quantize/block.h"
#include "quantize/linalg.h"

namespace tq {
namespace {

// The inverse of the forward's de-interleaving (GGUF llama Q/K rows): the gradient w.r.t. the
// projection's own row order.
void interleave(float* x, int64_t rows, int64_t d) {
  std::vector<float> tmp(static_cast<size_t>(d));
  const int64_t half = d / 2;
  for (int64_t h = 0; h < rows; ++h) {
    float* xh = x + h * d;
    for (int64_t i = 0; i < half; ++i) {
      tmp[2 * i] = xh[i];
      tmp[2 * i + 1] = xh[half + i];
    }
    std::copy_n(tmp.data(), d, xh);
  }
}

// Rotate-half RoPE of one token's heads by −angle: the transpose of the forward's rotation.
void rope_inverse(float* x, int64_t n_heads, int64_t d, int64_t n_rot, const float* cs) {
  const int64_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* xh = x + h * d;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = -cs[2 * i + 1];
      const float a = xh[i], b = xh[i + half];
      xh[i] = a * c - b * s;
      xh[i + half] = a * s + b * c;
    }
  }
}

// dx = d/dx of rmsnorm(x)·w applied to dy, rows of n.
void rmsnorm_backward(const float* x, const float* w, int64_t rows, int64_t n, float eps,
                      const float* dy, float* dx) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * n;
    const float* dyr = dy + t * n;
    double ss = 0, dot = 0;
    for (int64_t i = 0; i < n; ++i) {
      ss += static_cast<double>(xr[i]) * xr[i];
      dot += static_cast<double>(w[i]) * dyr[i] * xr[i];
    }
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
    const double k = r * r * r * dot / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i)
      dx[t * n + i] = static_cast<float>(r * w[i] * dyr[i] - k * xr[i]);
  }
}

// dW [n_out, n_in] += dyᵀ x.
void accumulate_grad(std::vector<float>& g, const WeightView& w, const float* dy, const float* x,
                     int64_t T) {
  if (g.empty()) g.assign(static_cast<size_t>(w.n_rows * w.n_cols), 0.0f);
  sgemm(true, false, w.n_rows, w.n_cols, T, 1.0f, dy, w.n_rows, x, w.n_cols, 1.0f, g.data(),
        w.n_cols);
}

// dx [T, n_in] (+)= dy [T, n_out] · W.
void input_grad(const WeightView& w, const float* dy, int64_t T, float* dx, bool accumulate) {
  TQ_CHECK(w.type == TypeId::f32, "block backward needs f32 weights");
  sgemm(false, false, T, w.n_cols, w.n_rows, 1.0f, dy, w.n_rows,
        reinterpret_cast<const float*>(w.data), w.n_cols, accumulate ? 1.0f : 0.0f, dx, w.n_cols);
}

}  // namespace

void BlockRunner::head_backward(const WeightView& output, const float* x, int64_t T,
                                const float* dlogits, std::vector<float>* grad_w,
                                float* dx) const {
  const int64_t E = model_.hp.n_embd;
  std::vector<float> xn(static_cast<size_t>(T * E)), dxn(static_cast<size_t>(T * E));
  rmsnorm(x, model_.output_norm.data(), T, E, model_.hp.rms_eps, xn.data());
  if (grad_w) accumulate_grad(*grad_w, output, dlogits, xn.data(), T);
  input_grad(output, dlogits, T, dxn.data(), false);
  rmsnorm_backward(x, model_.output_norm.data(), T, E, model_.hp.rms_eps, dxn.data(), dx);
}

void BlockRunner::backward(int64_t layer, const BlockLinears& w, const BlockTape& tp,
                           const float* dy, BlockGrads& grads, float* dx) const {
  const HParams& hp = model_.hp;
  const LayerWeights& L = model_.layers[layer];
  const int64_t T = tp.n_tokens;
  const int64_t E = hp.n_embd, QD = hp.q_dim(), KD = hp.kv_dim(), F = hp.n_ff, D = hp.head_dim;
  const int64_t NH = hp.n_head, NKV = hp.n_head_kv, G = hp.n_gqa(), half = hp.rope.n_rot / 2;
  TQ_CHECK(static_cast<int64_t>(tp.probs.size()) == NH * T * T, "backward needs a full tape");
  step(nullptr, T);
  // ---- feed-forward ----
  std::vector<float> d_act(static_cast<size_t>(T * F)), d_gate(static_cast<size_t>(T * F)),
      d_up(static_cast<size_t>(T * F));
  accumulate_grad(grads[Linear::kDown], w[Linear::kDown], dy, tp.act.data(), T);
  input_grad(w[Linear::kDown], dy, T, d_act.data(), false);
  for (int64_t i = 0; i < T * F; ++i) {
    const float g = tp.gate[i];
    const float sg = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * sg;
    d_up[i] = d_act[i] * silu;
    d_gate[i] = d_act[i] * tp.up[i] * sg * (1.0f + g * (1.0f - sg));
  }
  accumulate_grad(grads[Linear::kGate], w[Linear::kGate], d_gate.data(), tp.xn2.data(), T);
  accumulate_grad(grads[Linear::kUp], w[Linear::kUp], d_up.data(), tp.xn2.data(), T);
  std::vector<float> d_xn2(static_cast<size_t>(T * E)), dh(static_cast<size_t>(T * E));
  input_grad(w[Linear::kGate], d_gate.data(), T, d_xn2.data(), false);
  input_grad(w[Linear::kUp], d_up.data(), T, d_xn2.data(), true);
  rmsnorm_backward(tp.h.data(), L.ffn_norm.data(), T, E, hp.rms_eps, d_xn2.data(), dh.data());
  for (int64_t i = 0; i < T * E; ++i) dh[i] += dy[i];
  // ---- attention ----
  std::vector<float> d_attn(static_cast<size_t>(T * QD));
  accumulate_grad(grads[Linear::kO], w[Linear::kO], dh.data(), tp.attn.data(), T);
  input_grad(w[Linear::kO], dh.data(), T, d_attn.data(), false);
  std::vector<float> dq(static_cast<size_t>(T * QD), 0.0f), dk(static_cast<size_t>(T * KD), 0.0f),
      dv(static_cast<size_t>(T * KD), 0.0f), dP(static_cast<size_t>(T * T));
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t h = 0; h < NH; ++h) {
    const int64_t kh = h / G;
    const float* P = tp.probs.data() + h * T * T;
    const float* dO = d_attn.data() + h * D;
    sgemm(false, true, T, T, D, 1.0f, dO, QD, tp.v.data() + kh * D, KD, 0.0f, dP.data(), T);
    sgemm(true, false, T, D, T, 1.0f, P, T, dO, QD, 1.0f, dv.data() + kh * D, KD);
    for (int64_t i = 0; i < T; ++i) {  // dS = P ∘ (dP − Σ_j P dP)
      float* dpr = dP.data() + i * T;
      const float* pr = P + i * T;
      double s = 0;
      for (int64_t j = 0; j <= i; ++j) s += static_cast<double>(pr[j]) * dpr[j];
      for (int64_t j = 0; j <= i; ++j) dpr[j] = pr[j] * (dpr[j] - static_cast<float>(s));
      std::fill(dpr + i + 1, dpr + T, 0.0f);
    }
    sgemm(false, false, T, D, T, scale, dP.data(), T, tp.k_att() + kh * D, KD, 0.0f,
          dq.data() + h * D, QD);
    sgemm(true, false, T, D, T, scale, dP.data(), T, tp.q_att() + h * D, QD, 1.0f,
          dk.data() + kh * D, KD);
  }
  if (half > 0)
    for (int64_t t = 0; t < T; ++t) {
      const float* cs = cos_sin_.data() + t * half * 2;
      rope_inverse(dq.data() + t * QD, NH, D, hp.rope.n_rot, cs);
      rope_inverse(dk.data() + t * KD, NKV, D, hp.rope.n_rot, cs);
    }
  if (!L.q_norm.empty()) {
    std::vector<float> tq_(dq.size()), tk(dk.size());
    rmsnorm_backward(tp.q_raw.data(), L.q_norm.data(), T * NH, D, hp.rms_eps, dq.data(), tq_.data());
    rmsnorm_backward(tp.k_raw.data(), L.k_norm.data(), T * NKV, D, hp.rms_eps, dk.data(), tk.data());
    dq.swap(tq_);
    dk.swap(tk);
  }
  if (model_.qk_interleaved) {
    interleave(dq.data(), T * NH, D);
    interleave(dk.data(), T * NKV, D);
  }
  accumulate_grad(grads[Linear::kQ], w[Linear::kQ], dq.data(), tp.xn1.data(), T);
  accumulate_grad(grads[Linear::kK], w[Linear::kK], dk.data(), tp.xn1.data(), T);
  accumulate_grad(grads[Linear::kV], w[Linear::kV], dv.data(), tp.xn1.data(), T);
  if (!dx) return;
  // dx = dh + the attention norm's backward of dxn1 = dq·Wq + dk·Wk + dv·Wv.
  TQ_CHECK(static_cast<int64_t>(tp.x_in.size()) == T * E, "backward dx needs the tape's input");
  std::vector<float> d_xn1(static_cast<size_t>(T * E));
  input_grad(w[Linear::kQ], dq.data(), T, d_xn1.data(), false);
  input_grad(w[Linear::kK], dk.data(), T, d_xn1.data(), true);
  input_grad(w[Linear::kV], dv.data(), T, d_xn1.data(), true);
  rmsnorm_backward(tp.x_in.data(), L.attn_norm.data(), T, E, hp.rms_eps, d_xn1.data(), dx);
  for (int64_t i = 0; i < T * E; ++i) dx[i] += dh[i];
}

}  // namespace tq
