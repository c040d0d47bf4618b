#include "quantize/block_tune.h"

#include <cmath>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/timer.h"

namespace tq {
namespace {

struct Param {
  TqTensor* t = nullptr;
  std::vector<float> u;      // [n_rows, n_cols] codebook values c[idx] (rotated basis, unscaled)
  std::vector<float> mult;   // [n_rows, n_groups] the learned multipliers
  std::vector<float> m1, m2; // Adam moments
  std::vector<float> w;      // [n_rows, n_cols] current Ŵ, original basis
  std::vector<float> grad_rot;
};

// w := unrotate(u · scale) with scale[r,g] = s[r,g] · mult[r,g] (optionally fp16-rounded).
void build_weights(Param& p, bool round) {
  const TqTensor& t = *p.t;
  const TqCodec& codec = tq_codec(t.bits, t.group);
  const int64_t ng = t.n_groups();
  parallel_for(t.n_rows * ng, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float s = t.scales[i] * p.mult[i];
      if (round) s = round_fp16(s);
      const int64_t r = i / ng, g = i % ng;
      const float* u = p.u.data() + r * t.n_cols + g * t.group;
      float* o = p.w.data() + r * t.n_cols + g * t.group;
      for (int k = 0; k < t.group; ++k) o[k] = s * u[k];
      codec.unrotate(o);
    }
  }, 64);
}

}  // namespace

BlockTuneReport tune_block_scales(const BlockRunner& runner, int64_t layer,
                                  TqTensor* tensors[kNumBlockLinears],
                                  const BlockLinears& fixed, const std::vector<float>& h_q,
                                  const std::vector<float>& target, int64_t T,
                                  const BlockTuneOptions& opt) {
  Timer timer;
  BlockTuneReport rep;
  const int64_t E = runner.model().hp.n_embd;
  const int64_t NW = static_cast<int64_t>(h_q.size()) / (T * E);
  TQ_CHECK(NW > 0 && static_cast<int64_t>(target.size()) == NW * T * E, "tune: bad shapes");
  Param params[kNumBlockLinears];
  BlockLinears views = fixed;
  bool any = false;
  for (int i = 0; i < kNumBlockLinears; ++i) {
    if (!tensors[i]) {
      TQ_CHECK(fixed.w[i].type == TypeId::f32, "tune: fixed weights must be f32");
      continue;
    }
    any = true;
    Param& p = params[i];
    p.t = tensors[i];
    const TqTensor& t = *p.t;
    p.u.resize(t.codes.size());
    codebook_values(t, p.u.data());
    p.mult.assign(t.scales.size(), 1.0f);
    p.m1.assign(t.scales.size(), 0.0f);
    p.m2.assign(t.scales.size(), 0.0f);
    p.w.resize(t.codes.size());
    build_weights(p, true);
    views.w[i] = f32_view(fixed.w[i], p.w.data());
  }
  auto total_loss = [&]() {
    double s = 0;
    std::vector<float> x(static_cast<size_t>(T * E));
    for (int64_t w = 0; w < NW; ++w) {
      std::copy_n(h_q.data() + w * T * E, T * E, x.data());
      runner.forward(layer, views, x.data(), T, nullptr);
      const float* tg = target.data() + w * T * E;
      for (int64_t k = 0; k < T * E; ++k) s += static_cast<double>(x[k] - tg[k]) * (x[k] - tg[k]);
    }
    return s / static_cast<double>(NW * T * E);
  };
  rep.loss_before = total_loss();
  if (!any || opt.steps <= 0) {
    rep.loss_after = rep.loss_before;
    rep.seconds = timer.seconds();
    return rep;
  }
  Rng rng(mix_seed(opt.seed, static_cast<uint64_t>(layer)));
  const int64_t B = std::min(opt.batch_windows, NW);
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  BlockTape tape;
  BlockGrads grads;
  std::vector<float> x(static_cast<size_t>(T * E)), dy(static_cast<size_t>(T * E));
  for (int64_t step = 1; step <= opt.steps; ++step) {
    for (auto& g : grads.g) std::fill(g.begin(), g.end(), 0.0f);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t w = static_cast<int64_t>(rng.below(NW));
      std::copy_n(h_q.data() + w * T * E, T * E, x.data());
      runner.forward(layer, views, x.data(), T, &tape);
      const float* tg = target.data() + w * T * E;
      const float k = 2.0f / static_cast<float>(B * T * E);
      for (int64_t i = 0; i < T * E; ++i) dy[i] = k * (x[i] - tg[i]);
      runner.backward(layer, views, tape, dy.data(), grads);
    }
    const float bc1 = 1.0f - std::pow(b1, static_cast<float>(step));
    const float bc2 = 1.0f - std::pow(b2, static_cast<float>(step));
    for (int i = 0; i < kNumBlockLinears; ++i) {
      Param& p = params[i];
      if (!p.t) continue;
      const TqTensor& t = *p.t;
      const TqCodec& codec = tq_codec(t.bits, t.group);
      const int64_t ng = t.n_groups();
      // ∂L/∂Ŵ_rot = per-group R·∂L/∂Ŵ (Ŵ = Rᵀ Ŵ_rot), then ∂L/∂m = Σ_g ∂L/∂Ŵ_rot · s · u.
      p.grad_rot = grads.g[i];
      parallel_for(t.n_rows * ng, [&](int64_t b, int64_t e) {
        for (int64_t gi = b; gi < e; ++gi) {
          float* g = p.grad_rot.data() + gi * t.group;
          codec.rotate(g);
          const float* u = p.u.data() + gi * t.group;
          double d = 0;
          for (int k = 0; k < t.group; ++k) d += static_cast<double>(g[k]) * u[k];
          const float grad = static_cast<float>(d) * t.scales[gi];
          p.m1[gi] = b1 * p.m1[gi] + (1 - b1) * grad;
          p.m2[gi] = b2 * p.m2[gi] + (1 - b2) * grad * grad;
          const float mh = p.m1[gi] / bc1, vh = p.m2[gi] / bc2;
          p.mult[gi] -= static_cast<float>(opt.lr) * mh / (std::sqrt(vh) + eps);
        }
      }, 64);
      build_weights(p, false);
    }
  }
  for (int i = 0; i < kNumBlockLinears; ++i)
    if (params[i].t) build_weights(params[i], true);
  rep.loss_after = total_loss();
  rep.kept = rep.loss_after < rep.loss_before;
  if (rep.kept) {
    for (int i = 0; i < kNumBlockLinears; ++i) {
      Param& p = params[i];
      if (!p.t) continue;
      for (size_t k = 0; k < p.t->scales.size(); ++k)
        p.t->scales[k] = round_fp16(p.t->scales[k] * p.mult[k]);
    }
  } else {
    rep.loss_after = rep.loss_before;
  }
  rep.seconds = timer.seconds();
  return rep;
}

}  // namespace tq
