#include "quantize/block_tune.h"

#include <cmath>
#include <memory>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/timer.h"
#include "quantize/scale_param.h"

namespace tq {

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
  std::unique_ptr<ScaleParam> params[kNumBlockLinears];
  BlockLinears views = fixed;
  bool any = false;
  for (int i = 0; i < kNumBlockLinears; ++i) {
    if (!tensors[i]) {
      TQ_CHECK(fixed.w[i].type == TypeId::f32, "tune: fixed weights must be f32");
      continue;
    }
    any = true;
    params[i] = std::make_unique<ScaleParam>(tensors[i]);
    views.w[i] = f32_view(fixed.w[i], params[i]->weights().data());
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
    for (int i = 0; i < kNumBlockLinears; ++i)
      if (params[i]) params[i]->adam_step(grads.g[i], opt.lr, step);
  }
  for (auto& p : params)
    if (p) p->build(true);
  rep.loss_after = total_loss();
  rep.kept = rep.loss_after < rep.loss_before;
  if (rep.kept) {
    for (auto& p : params)
      if (p) p->commit();
  } else {
    rep.loss_after = rep.loss_before;
  }
  rep.seconds = timer.seconds();
  return rep;
}

}  // namespace tq
