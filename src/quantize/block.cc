#include "quantize/block.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/ops.h"
#include "quantize/linalg.h"

namespace tq {
namespace {

// Session's row order for arch-llama GGUF files: row 2i + s of a head holds HF row s·d/2 + i.
void deinterleave(float* x, int64_t rows, int64_t d) {
  std::vector<float> tmp(static_cast<size_t>(d));
  const int64_t half = d / 2;
  for (int64_t h = 0; h < rows; ++h) {
    float* xh = x + h * d;
    for (int64_t i = 0; i < half; ++i) {
      tmp[i] = xh[2 * i];
      tmp[half + i] = xh[2 * i + 1];
    }
    std::copy_n(tmp.data(), d, xh);
  }
}
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

// Rotate-half RoPE of one token's heads by +angle (forward) or −angle (backward).
void rope(float* x, int64_t n_heads, int64_t d, int64_t n_rot, const float* cs, bool inverse) {
  const int64_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* xh = x + h * d;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[2 * i], s = inverse ? -cs[2 * i + 1] : cs[2 * i + 1];
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

void add_bias(float* x, const std::vector<float>& b, int64_t T) {
  if (b.empty()) return;
  const int64_t n = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < T; ++t) add_inplace(x + t * n, b.data(), n);
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

const char* linear_name(Linear l) {
  static const char* kNames[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                 "ffn_gate", "ffn_up", "ffn_down"};
  return kNames[static_cast<int>(l)];
}

BlockLinears model_block_linears(const Model& model, int64_t layer) {
  const LayerWeights& L = model.layers[layer];
  BlockLinears b;
  b[Linear::kQ] = L.wq;
  b[Linear::kK] = L.wk;
  b[Linear::kV] = L.wv;
  b[Linear::kO] = L.wo;
  b[Linear::kGate] = L.w_gate;
  b[Linear::kUp] = L.w_up;
  b[Linear::kDown] = L.w_down;
  return b;
}

BlockRunner::BlockRunner(const Model& model) : model_(model) {}

void BlockRunner::rope_tables(int64_t T) const {
  if (rope_T_ >= T) return;
  const auto& inv = model_.rope_inv_freq;
  const int64_t half = static_cast<int64_t>(inv.size());
  cos_sin_.resize(static_cast<size_t>(T * std::max<int64_t>(1, half) * 2));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double a = static_cast<double>(t) * inv[i];
      cos_sin_[(t * half + i) * 2] = static_cast<float>(std::cos(a));
      cos_sin_[(t * half + i) * 2 + 1] = static_cast<float>(std::sin(a));
    }
  rope_T_ = T;
}

void BlockRunner::embed(const WeightView& tok_embd, const int32_t* tokens, int64_t T,
                        float* x) const {
  for (int64_t t = 0; t < T; ++t) weight_row_to_float(tok_embd, tokens[t], x + t * model_.hp.n_embd);
}

void BlockRunner::head(const WeightView& output, const float* x, int64_t T, float* logits) const {
  const int64_t E = model_.hp.n_embd;
  std::vector<float> xn(static_cast<size_t>(T * E));
  rmsnorm(x, model_.output_norm.data(), T, E, model_.hp.rms_eps, xn.data());
  matmul(output, xn.data(), T, logits);
}

void BlockRunner::forward(int64_t layer, const BlockLinears& w, float* x, int64_t T,
                          BlockTape* tape) const {
  const HParams& hp = model_.hp;
  const LayerWeights& L = model_.layers[layer];
  const int64_t E = hp.n_embd, QD = hp.q_dim(), KD = hp.kv_dim(), F = hp.n_ff, D = hp.head_dim;
  const int64_t NH = hp.n_head, G = hp.n_gqa(), half = hp.rope.n_rot / 2;
  rope_tables(T);
  BlockTape local;
  BlockTape& tp = tape ? *tape : local;
  tp.n_tokens = T;
  auto sized = [](std::vector<float>& v, int64_t n) { v.resize(static_cast<size_t>(n)); };
  sized(tp.xn1, T * E);
  sized(tp.q_raw, T * QD);
  sized(tp.k_raw, T * KD);
  sized(tp.q, T * QD);
  sized(tp.k, T * KD);
  sized(tp.v, T * KD);
  sized(tp.attn, T * QD);
  sized(tp.h, T * E);
  sized(tp.xn2, T * E);
  sized(tp.gate, T * F);
  sized(tp.up, T * F);
  sized(tp.act, T * F);
  if (tape) tp.x_in.assign(x, x + T * E);
  std::vector<float> probs_local;
  std::vector<float>& probs = tape ? tp.probs : probs_local;
  probs.assign(static_cast<size_t>(tape ? NH * T * T : T * T), 0.0f);

  rmsnorm(x, L.attn_norm.data(), T, E, hp.rms_eps, tp.xn1.data());
  matmul(w[Linear::kQ], tp.xn1.data(), T, tp.q_raw.data());
  matmul(w[Linear::kK], tp.xn1.data(), T, tp.k_raw.data());
  matmul(w[Linear::kV], tp.xn1.data(), T, tp.v.data());
  add_bias(tp.q_raw.data(), L.bq, T);
  add_bias(tp.k_raw.data(), L.bk, T);
  add_bias(tp.v.data(), L.bv, T);
  if (model_.qk_interleaved) {
    deinterleave(tp.q_raw.data(), T * NH, D);
    deinterleave(tp.k_raw.data(), T * hp.n_head_kv, D);
  }
  if (!L.q_norm.empty()) {
    rmsnorm(tp.q_raw.data(), L.q_norm.data(), T * NH, D, hp.rms_eps, tp.q.data());
    rmsnorm(tp.k_raw.data(), L.k_norm.data(), T * hp.n_head_kv, D, hp.rms_eps, tp.k.data());
  } else {
    tp.q = tp.q_raw;
    tp.k = tp.k_raw;
  }
  if (half > 0)
    for (int64_t t = 0; t < T; ++t) {
      const float* cs = cos_sin_.data() + t * half * 2;
      rope(tp.q.data() + t * QD, NH, D, hp.rope.n_rot, cs, false);
      rope(tp.k.data() + t * KD, hp.n_head_kv, D, hp.rope.n_rot, cs, false);
    }
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int64_t h = 0; h < NH; ++h) {
    const int64_t kh = h / G;
    float* P = probs.data() + (tape ? h * T * T : 0);
    sgemm(false, true, T, T, D, scale, tp.q.data() + h * D, QD, tp.k.data() + kh * D, KD, 0.0f, P,
          T);
    for (int64_t i = 0; i < T; ++i) {
      float* row = P + i * T;
      softmax(row, i + 1);
      std::fill(row + i + 1, row + T, 0.0f);
    }
    sgemm(false, false, T, D, T, 1.0f, P, T, tp.v.data() + kh * D, KD, 0.0f,
          tp.attn.data() + h * D, QD);
  }
  matmul(w[Linear::kO], tp.attn.data(), T, tp.h.data());
  add_inplace(tp.h.data(), x, T * E);
  rmsnorm(tp.h.data(), L.ffn_norm.data(), T, E, hp.rms_eps, tp.xn2.data());
  matmul(w[Linear::kGate], tp.xn2.data(), T, tp.gate.data());
  matmul(w[Linear::kUp], tp.xn2.data(), T, tp.up.data());
  tp.act = tp.gate;
  silu_mul(tp.act.data(), tp.up.data(), T * F);
  matmul(w[Linear::kDown], tp.act.data(), T, x);
  add_inplace(x, tp.h.data(), T * E);
}

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
  rope_tables(T);
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
    sgemm(false, false, T, D, T, scale, dP.data(), T, tp.k.data() + kh * D, KD, 0.0f,
          dq.data() + h * D, QD);
    sgemm(true, false, T, D, T, scale, dP.data(), T, tp.q.data() + h * D, QD, 1.0f,
          dk.data() + kh * D, KD);
  }
  if (half > 0)
    for (int64_t t = 0; t < T; ++t) {
      const float* cs = cos_sin_.data() + t * half * 2;
      rope(dq.data() + t * QD, NH, D, hp.rope.n_rot, cs, true);
      rope(dk.data() + t * KD, NKV, D, hp.rope.n_rot, cs, true);
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
