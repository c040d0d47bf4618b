#include "runtime/forward.h"

#include <algorithm>

#include "core/check.h"

namespace tq {

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

BlockScratch::BlockScratch(Backend& backend, const HParams& hp, int64_t n_rows) {
  auto buf = [&](int64_t n_cols) {
    bufs_.emplace_back(backend, n_rows * n_cols);
    return bufs_.back().data();
  };
  bufs_.reserve(9);
  acts_.xn1 = buf(hp.n_embd);
  acts_.q_raw = buf(hp.q_dim());
  acts_.k_raw = buf(hp.kv_dim());
  acts_.v = buf(hp.kv_dim());
  acts_.attn = buf(hp.q_dim());
  acts_.xn2 = buf(hp.n_embd);
  acts_.gate = buf(hp.n_ff);
  acts_.up = buf(hp.n_ff);
  acts_.tmp = buf(hp.n_embd);
}

Forward::Forward(const Model& model, Backend& backend) : model_(model), backend_(backend) {}

void Forward::begin_step(const int32_t* tokens, const int64_t* positions, int64_t n,
                         float* cos_sin) {
  backend_.set_step(tokens, positions, n);
  backend_.rope_angles(model_.rope_inv_freq, cos_sin);
}

void Forward::embed(const WeightView& emb, const HotRows* hot, float* x) {
  backend_.embed(emb, hot, x);
}

void Forward::block(int64_t il, const BlockLinears& w, float* x, const BlockActs& a,
                    const float* cos_sin, BlockAttention& attention, ForwardObserver* obs) {
  const HParams& hp = model_.hp;
  const LayerWeights& L = model_.layers[il];
  Backend& be = backend_;
  const int64_t n = be.step_rows();
  const int64_t E = hp.n_embd, F = hp.n_ff, D = hp.head_dim;
  if (obs) obs->on_block_input(il, x, n, E);
  // ---- attention ----
  be.rmsnorm(x, L.attn_norm, n, E, hp.rms_eps, a.xn1);
  if (obs) obs->on_linear_input(il, LinearInput::kAttnIn, a.xn1, n, E);
  {
    const WeightView* ws[] = {&w[Linear::kQ], &w[Linear::kK], &w[Linear::kV]};
    float* ys[] = {a.q_raw, a.k_raw, a.v};
    be.matmul(ws, a.xn1, n, ys);
  }
  if (!L.bq.empty()) be.add_rows(a.q_raw, L.bq, n);
  if (!L.bk.empty()) be.add_rows(a.k_raw, L.bk, n);
  if (!L.bv.empty()) be.add_rows(a.v, L.bv, n);
  if (model_.qk_interleaved) {
    be.deinterleave_heads(a.q_raw, n * hp.n_head, D);
    be.deinterleave_heads(a.k_raw, n * hp.n_head_kv, D);
  }
  float* q = a.q_raw;
  float* k = a.k_raw;
  if (!L.q_norm.empty()) {
    if (a.q) q = a.q;
    if (a.k) k = a.k;
    be.rmsnorm(a.q_raw, L.q_norm, n * hp.n_head, D, hp.rms_eps, q);
    be.rmsnorm(a.k_raw, L.k_norm, n * hp.n_head_kv, D, hp.rms_eps, k);
  }
  be.rope(q, hp.n_head, D, hp.rope.n_rot, cos_sin);
  be.rope(k, hp.n_head_kv, D, hp.rope.n_rot, cos_sin);
  attention.attend(il, q, k, a.v, a.attn);
  if (obs) obs->on_linear_input(il, LinearInput::kAttnOut, a.attn, n, hp.q_dim());
  float* h = a.h ? a.h : x;
  be.matmul(w[Linear::kO], a.attn, n, a.tmp);
  be.add(x, a.tmp, h, n * E);
  // ---- feed-forward (SwiGLU) ----
  be.rmsnorm(h, L.ffn_norm, n, E, hp.rms_eps, a.xn2);
  if (obs) obs->on_linear_input(il, LinearInput::kFfnIn, a.xn2, n, E);
  {
    const WeightView* ws[] = {&w[Linear::kGate], &w[Linear::kUp]};
    float* ys[] = {a.gate, a.up};
    be.matmul(ws, a.xn2, n, ys);
  }
  float* act = a.act ? a.act : a.gate;
  be.glu(GluKind::kSwiGlu, a.gate, a.up, act, n * F);
  if (obs) obs->on_linear_input(il, LinearInput::kFfnDown, act, n, F);
  be.matmul(w[Linear::kDown], act, n, a.tmp);
  be.add(h, a.tmp, x, n * E);
}

void Forward::head(const WeightView& output, const HotRows* hot, const float* x, int64_t n,
                   float* xn, float* hot_logits, float* logits, ForwardObserver* obs) {
  const HParams& hp = model_.hp;
  backend_.rmsnorm(x, model_.output_norm, n, hp.n_embd, hp.rms_eps, xn);
  if (obs) obs->on_linear_input(hp.n_layer, LinearInput::kHead, xn, n, hp.n_embd);
  backend_.matmul(output, xn, n, logits);
  // The head's hot rows (a tied head: the embedding's): their residual logits on those tokens.
  if (hot && !hot->empty()) {
    backend_.matmul(hot->rows, xn, n, hot_logits);
    backend_.scatter_add_cols(logits, hp.n_vocab, hot->ids, hot_logits, n);
  }
}

}  // namespace tq
