#include "quantize/model_tune.h"

#include <fmt/format.h>

#include <array>
#include <cmath>

#include "core/check.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "kernels/ops.h"
#include "quantize/block.h"
#include "quantize/scale_param.h"

namespace tq {
namespace {

// One matrix during tuning: a tuned TurboQuant tensor (with its hot rows, tuned too) or fixed
// dequantized values.
struct Slot {
  QuantizedTensor* q = nullptr;
  std::unique_ptr<ScaleParam> main, hot;  // main: q->tq; hot: q->hot (rows q->hot_ids)
  int64_t main_off = 0, hot_off = 0;      // offsets of their multipliers in the flat vector
  std::vector<float> own;                 // [n_rows, n_cols] fixed Ŵ, or main + hot rows
  std::vector<float> grad;                // [n_rows, n_cols] ∂L/∂Ŵ (embedding / head only)

  bool tuned() const { return main != nullptr; }
  const float* weights() const { return main && !hot ? main->weights().data() : own.data(); }
  // own := main's Ŵ plus the hot residual rows (after either was rebuilt).
  void combine() {
    if (!hot) return;
    own = main->weights();
    const std::vector<float>& h = hot->weights();
    const int64_t n = q->n_cols;
    for (size_t k = 0; k < q->hot_ids.size(); ++k)
      for (int64_t c = 0; c < n; ++c) own[q->hot_ids[k] * n + c] += h[k * n + c];
  }
  // ∂L/∂m of this slot's multipliers from ∂L/∂Ŵ [n_rows, n_cols], added into m_grad.
  void add_mult_grad(const float* grad_w, float* m_grad) const {
    if (!main) return;
    main->mult_grad(grad_w, m_grad + main_off, true);
    if (!hot) return;
    const int64_t n = q->n_cols;
    std::vector<float> g(static_cast<size_t>(q->hot_ids.size() * n));
    for (size_t k = 0; k < q->hot_ids.size(); ++k)
      std::copy_n(grad_w + q->hot_ids[k] * n, n, g.data() + k * n);
    hot->mult_grad(g.data(), m_grad + hot_off, true);
  }
};

// Rows of n_vocab log-probabilities in place.
void log_softmax(float* x, int64_t T, int64_t V) {
  parallel_for(T, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* r = x + t * V;
      const float l = static_cast<float>(logsumexp(r, V));
      for (int64_t i = 0; i < V; ++i) r[i] -= l;
    }
  }, 4);
}

}  // namespace

struct ModelScaleObjective::Impl {
  const Model& model;
  std::vector<std::vector<int32_t>> windows;
  int64_t T = 0, n_mult = 0, n_tuned = 0, n_fixed = 0;
  std::map<std::string, Slot> slots;
  std::vector<BlockLinears> layers;                           // [n_layer] f32 views of Ŵ
  std::vector<std::array<Slot*, kNumBlockLinears>> layer_slots;
  Slot* emb = nullptr;
  Slot* head = nullptr;  // == emb when tied
  WeightView emb_view, head_view;
  BlockRunner runner;
  std::vector<float> h_float;            // [n_windows, T, E] the float model's final hidden states
  std::vector<BlockTape> tapes;          // [n_layer]
  BlockGrads block_grads;
  std::vector<float> base_lp, lp;        // [T, V]
  std::vector<float> x, dx, dx2;         // [T, E]

  Impl(const Model& m, const std::map<std::string, QuantizedTensor*>& tensors,
       std::vector<std::vector<int32_t>> ws)
      : model(m), windows(std::move(ws)), runner(m) {
    const HParams& hp = model.hp;
    const int64_t E = hp.n_embd, V = hp.n_vocab, NW = static_cast<int64_t>(windows.size());
    TQ_CHECK(NW > 0, "e2e tuning: no windows");
    T = static_cast<int64_t>(windows[0].size());
    for (const auto& w : windows) TQ_CHECK(static_cast<int64_t>(w.size()) == T, "e2e: windows differ in length");
    for (const auto& [name, q] : tensors) {
      Slot& s = slots[name];
      s.q = q;
      if (q->tq) {
        s.main = std::make_unique<ScaleParam>(&*q->tq);
        s.main_off = n_mult;
        n_mult += static_cast<int64_t>(q->tq->scales.size());
        if (q->hot) {
          s.hot = std::make_unique<ScaleParam>(&*q->hot);
          s.hot_off = n_mult;
          n_mult += static_cast<int64_t>(q->hot->scales.size());
          s.combine();
        }
        ++n_tuned;
      } else {
        s.own.resize(static_cast<size_t>(q->n_rows * q->n_cols));
        q->dequantize(s.own.data());
        ++n_fixed;
      }
    }
    auto slot = [&](const std::string& name) -> Slot& {
      auto it = slots.find(name);
      TQ_CHECK(it != slots.end(), "e2e tuning: tensor '{}' not given", name);
      return it->second;
    };
    layers.resize(static_cast<size_t>(hp.n_layer));
    layer_slots.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t l = 0; l < hp.n_layer; ++l) {
      layers[l] = model_block_linears(model, l);
      for (int i = 0; i < kNumBlockLinears; ++i) {
        Slot& s = slot(fmt::format("blk.{}.{}.weight", l, linear_name(static_cast<Linear>(i))));
        layers[l].w[i] = f32_view(layers[l].w[i], s.weights());
        layer_slots[l][i] = &s;
      }
    }
    emb = &slot("token_embd.weight");
    head = model.tied_output ? emb : &slot("output.weight");
    emb_view = f32_view(model.tok_embd, emb->weights());
    head_view = f32_view(model.output, head->weights());
    if (emb->tuned()) emb->grad.assign(static_cast<size_t>(V * E), 0.0f);
    if (head != emb && head->tuned()) head->grad.assign(static_cast<size_t>(V * E), 0.0f);
    h_float.resize(static_cast<size_t>(NW * T * E));
    for (int64_t w = 0; w < NW; ++w) {
      float* hx = h_float.data() + w * T * E;
      runner.embed(model.tok_embd, windows[w].data(), T, hx);
      for (int64_t l = 0; l < hp.n_layer; ++l)
        runner.forward(l, model_block_linears(model, l), hx, T, nullptr);
    }
    tapes.resize(static_cast<size_t>(hp.n_layer));
    base_lp.resize(static_cast<size_t>(T * V));
    lp.resize(base_lp.size());
    x.resize(static_cast<size_t>(T * E));
    dx.resize(x.size());
    dx2.resize(x.size());
  }

  void rebuild(const std::vector<float>& m, bool round) {
    TQ_CHECK(static_cast<int64_t>(m.size()) == n_mult, "e2e: {} multipliers, expected {}", m.size(), n_mult);
    for (auto& [name, s] : slots) {
      if (!s.main) continue;
      auto set = [&](ScaleParam& p, int64_t off) {
        std::vector<float>& pm = p.multipliers();
        std::copy_n(m.data() + off, pm.size(), pm.data());
        p.build(round);
      };
      set(*s.main, s.main_off);
      if (s.hot) {
        set(*s.hot, s.hot_off);
        s.combine();
      }
    }
  }

  // The mean per-token KLD of window w; with m_grad, adds `weight` × its gradient (per-layer
  // parts directly; the embedding / head parts into their slots' grad, converted by the caller).
  double window(int64_t w, float* m_grad, double weight) {
    const HParams& hp = model.hp;
    const int64_t E = hp.n_embd, V = hp.n_vocab;
    runner.head(model.output, h_float.data() + w * T * E, T, base_lp.data());
    log_softmax(base_lp.data(), T, V);
    runner.embed(emb_view, windows[w].data(), T, x.data());
    for (int64_t l = 0; l < hp.n_layer; ++l)
      runner.forward(l, layers[l], x.data(), T, m_grad ? &tapes[l] : nullptr);
    runner.head(head_view, x.data(), T, lp.data());
    log_softmax(lp.data(), T, V);
    std::vector<double> tok(static_cast<size_t>(T));
    const float k = static_cast<float>(weight / static_cast<double>(T));
    parallel_for(T, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const float* p = base_lp.data() + t * V;
        float* q = lp.data() + t * V;
        double s = 0;
        for (int64_t i = 0; i < V; ++i) {
          const double pi = std::exp(static_cast<double>(p[i]));
          s += pi * (static_cast<double>(p[i]) - q[i]);
          if (m_grad) q[i] = k * (std::exp(q[i]) - static_cast<float>(pi));  // ∂KL/∂logit = q − p
        }
        tok[t] = s;
      }
    }, 4);
    double kld = 0;
    for (double v : tok) kld += v;
    kld /= static_cast<double>(T);
    if (!m_grad) return kld;
    runner.head_backward(head_view, x.data(), T, lp.data(), head->tuned() ? &head->grad : nullptr,
                         dx.data());
    for (int64_t l = hp.n_layer - 1; l >= 0; --l) {
      for (auto& g : block_grads.g) std::fill(g.begin(), g.end(), 0.0f);
      runner.backward(l, layers[l], tapes[l], dx.data(), block_grads, l > 0 || emb->tuned() ? dx2.data() : nullptr);
      for (int i = 0; i < kNumBlockLinears; ++i)
        layer_slots[l][i]->add_mult_grad(block_grads.g[i].data(), m_grad);
      dx.swap(dx2);
    }
    if (emb->tuned())
      for (int64_t t = 0; t < T; ++t) {
        float* row = emb->grad.data() + static_cast<int64_t>(windows[w][t]) * E;
        for (int64_t i = 0; i < E; ++i) row[i] += dx[t * E + i];
      }
    return kld;
  }

  double kld(const std::vector<int64_t>& ws, std::vector<float>* grad) {
    TQ_CHECK(!ws.empty(), "e2e: no windows to evaluate");
    float* g = nullptr;
    if (grad) {
      grad->assign(static_cast<size_t>(n_mult), 0.0f);
      g = grad->data();
      for (Slot* s : {emb, head}) std::fill(s->grad.begin(), s->grad.end(), 0.0f);
    }
    const double wgt = 1.0 / static_cast<double>(ws.size());
    double total = 0;
    for (int64_t w : ws) {
      TQ_CHECK(w >= 0 && w < static_cast<int64_t>(windows.size()), "e2e: window {} out of range", w);
      total += window(w, g, wgt);
    }
    if (g) {
      if (emb->tuned()) emb->add_mult_grad(emb->grad.data(), g);
      if (head != emb && head->tuned()) head->add_mult_grad(head->grad.data(), g);
    }
    return total * wgt;
  }
};

ModelScaleObjective::ModelScaleObjective(const Model& model,
                                         const std::map<std::string, QuantizedTensor*>& tensors,
                                         std::vector<std::vector<int32_t>> windows)
    : impl_(std::make_unique<Impl>(model, tensors, std::move(windows))) {}
ModelScaleObjective::~ModelScaleObjective() = default;

int64_t ModelScaleObjective::n_multipliers() const { return impl_->n_mult; }
int64_t ModelScaleObjective::n_windows() const { return static_cast<int64_t>(impl_->windows.size()); }
int64_t ModelScaleObjective::n_tuned() const { return impl_->n_tuned; }
int64_t ModelScaleObjective::n_fixed() const { return impl_->n_fixed; }

ModelScaleObjective::Range ModelScaleObjective::range(const std::string& name, bool hot_rows) const {
  auto it = impl_->slots.find(name);
  if (it == impl_->slots.end()) return {};
  const Slot& s = it->second;
  const ScaleParam* p = hot_rows ? s.hot.get() : s.main.get();
  if (!p) return {};
  return {hot_rows ? s.hot_off : s.main_off, static_cast<int64_t>(p->tensor()->scales.size())};
}

std::vector<float> ModelScaleObjective::multipliers() const {
  std::vector<float> m(static_cast<size_t>(impl_->n_mult));
  for (auto& [name, s] : impl_->slots) {
    if (!s.main) continue;
    std::copy(s.main->multipliers().begin(), s.main->multipliers().end(), m.begin() + s.main_off);
    if (s.hot) std::copy(s.hot->multipliers().begin(), s.hot->multipliers().end(), m.begin() + s.hot_off);
  }
  return m;
}

void ModelScaleObjective::set_multipliers(const std::vector<float>& m, bool round) {
  impl_->rebuild(m, round);
}

double ModelScaleObjective::kld(const std::vector<int64_t>& ws, std::vector<float>* grad) {
  return impl_->kld(ws, grad);
}

double ModelScaleObjective::kld_all() {
  std::vector<int64_t> ws(impl_->windows.size());
  for (size_t i = 0; i < ws.size(); ++i) ws[i] = static_cast<int64_t>(i);
  return impl_->kld(ws, nullptr);
}

void ModelScaleObjective::commit() {
  for (auto& [name, s] : impl_->slots) {
    if (s.main) s.main->commit();
    if (s.hot) s.hot->commit();
  }
}

ModelTuneReport tune_model_scales(const Model& model,
                                  const std::map<std::string, QuantizedTensor*>& tensors,
                                  const std::vector<std::vector<int32_t>>& windows,
                                  const std::vector<std::vector<int32_t>>& holdout,
                                  const ModelTuneOptions& opt) {
  Timer timer;
  ModelTuneReport rep;
  // One objective over both sets: tuning windows first, then the held-out ones.
  std::vector<std::vector<int32_t>> all = windows;
  all.insert(all.end(), holdout.begin(), holdout.end());
  ModelScaleObjective obj(model, tensors, std::move(all));
  rep.n_windows = static_cast<int64_t>(windows.size());
  rep.n_holdout = static_cast<int64_t>(holdout.size());
  std::vector<int64_t> tune_ws, hold_ws;
  for (int64_t i = 0; i < rep.n_windows; ++i) tune_ws.push_back(i);
  for (int64_t i = 0; i < rep.n_holdout; ++i) hold_ws.push_back(rep.n_windows + i);
  rep.n_tuned = obj.n_tuned();
  rep.n_fixed = obj.n_fixed();
  rep.n_multipliers = obj.n_multipliers();
  rep.kld_before = obj.kld(tune_ws, nullptr);
  rep.kld_tuned = rep.kld_before;
  if (!hold_ws.empty()) rep.holdout_before = rep.holdout_tuned = obj.kld(hold_ws, nullptr);
  if (opt.steps <= 0 || rep.n_multipliers == 0) {
    rep.seconds = timer.seconds();
    return rep;
  }
  std::vector<float> m = obj.multipliers(), grad;
  Adam adam(rep.n_multipliers);
  Rng rng(mix_seed(opt.seed, 0x6532655f74756e65ull));  // "e2e_tune"
  const int64_t B = std::min(opt.batch_windows, rep.n_windows);
  Progress bar("e2e scales", opt.steps, opt.progress);
  double recent = rep.kld_before;
  for (int64_t step = 1; step <= opt.steps; ++step) {
    std::vector<int64_t> ws;
    for (int64_t b = 0; b < B; ++b) ws.push_back(static_cast<int64_t>(rng.below(rep.n_windows)));
    const double k = obj.kld(ws, &grad);
    recent = step == 1 ? k : 0.9 * recent + 0.1 * k;
    adam.step(m.data(), grad.data(), rep.n_multipliers, opt.lr, step);
    obj.set_multipliers(m, false);
    bar.step(1, fmt::format("batch KLD {:.4f} (start {:.4f})", recent, rep.kld_before));
  }
  bar.finish();
  obj.set_multipliers(m, true);
  rep.kld_tuned = obj.kld(tune_ws, nullptr);
  if (!hold_ws.empty()) rep.holdout_tuned = obj.kld(hold_ws, nullptr);
  rep.kept = hold_ws.empty() ? rep.kld_tuned < rep.kld_before : rep.holdout_tuned < rep.holdout_before;
  if (rep.kept) obj.commit();
  rep.seconds = timer.seconds();
  return rep;
}

}  // namespace tq
