// The sensitivity stage of quantize_model (quantize/stages.h): a mixed plan for a bits-per-weight
// target from measured per-tensor ΔKLD.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/progress.h"
#include "core/timer.h"
#include "quantize/gptq.h"
#include "quantize/stages.h"

namespace tq {

Result<MixedPlan> plan_mixed_precision(const Model& model, const QuantizeOptions& opt,
                                       QuantizeContext& ctx, ModelPlan& plan) {
  const HParams& hp = model.hp;
  Method sm = opt.method;
  sm.adam = false;
  sm.e2e = false;
  const std::string key =
      fmt::format("g{}|{}|b{}|w{}|h{}|{}|{}", opt.group, to_string(sm),
                  fmt::join(opt.sens_widths, ","), fmt::join(opt.widths, ","),
                  fmt::join(opt.hot_fractions, ","), fmt::join(opt.head_hot_fractions, ","),
                  head_hot_rule_name(opt.head_hot_rule));
  auto& table = ctx.sensitivity[key];
  if (opt.sens_widths.empty()) return invalid_argument("no width to measure the sensitivity at");
  for (double b : opt.widths)
    if (b * 2 != std::floor(b * 2) || !spec_type(tq_spec_of_width(b, opt.group)).ok())
      return invalid_argument("candidate width {} is not a tq width (2, 2.5, ..., 5.5, 6, 8)", b);
  for (double b : opt.sens_widths)
    if (std::find(opt.widths.begin(), opt.widths.end(), b) == opt.widths.end())
      return invalid_argument("the measured width {} must be one of the candidate widths ({})", b,
                              fmt::join(opt.widths, ", "));
  std::vector<const TensorPlan*> pending;
  for (const TensorPlan& t : plan.tensors)
    if (t.is_matrix() && !t.pinned && !table.count(t.name)) pending.push_back(&t);
  std::stable_sort(pending.begin(), pending.end(), [](const TensorPlan* a, const TensorPlan* b) {
    return layer_of(a->name) < layer_of(b->name);
  });
  // The Hessian a tensor's sensitivity uses (also a tied embedding's: the head's input).
  auto sens_hessian = [&](const TensorPlan& t) -> Result<const HessianSet::Entry*> {
    InputKey ik;
    const bool tied_emb = t.role == TensorRole::kEmbedding && model.tied_output;
    if ((t.role != TensorRole::kEmbedding || tied_emb) && input_key_of(t.name, hp.n_layer, &ik))
      return ctx.hessian(ik);
    return static_cast<const HessianSet::Entry*>(nullptr);
  };
  // Ŵ of tensor t at `spec` (false: the tensor cannot take it).
  auto quantize_at = [&](const TensorPlan& t, const std::vector<float>& w, const HessianSet::Entry* H,
                         const TensorSpec& spec, std::vector<float>& wh) -> Result<bool> {
    TensorPlan tb = t;
    if (!assign_spec(tb, spec).ok()) return false;
    TQ_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_planned(tb, w.data(), sm, H, opt, ctx));
    wh.resize(w.size());
    q.dequantize(wh.data());
    return true;
  };
  Timer ts;
  const double calib_before_sens = ctx.calib_seconds;
  if (!pending.empty()) {
    TQ_ASSIGN_OR_RETURN(SensitivityProbe * probe, ctx.probe());
    int64_t pending_params = 0;
    for (const auto* t : pending) pending_params += t->n_params;
    Progress bar("sensitivity", pending_params, opt.progress);
    for (const TensorPlan* tp : pending) {
      const std::vector<float> w = load_f32(*model.file.find(tp->name));
      TQ_ASSIGN_OR_RETURN(const HessianSet::Entry* H, sens_hessian(*tp));
      TensorSensitivity s;
      std::vector<float> wh;
      for (double b : opt.widths) {
        // A width the tensor cannot take (a fractional one on an odd number of groups) is no
        // candidate.
        TQ_ASSIGN_OR_RETURN(const bool fits, quantize_at(*tp, w, H, tq_spec_of_width(b, opt.group), wh));
        if (!fits) continue;
        double proxy = 0;
        if (H) {
          proxy = hessian_weighted_error(w.data(), wh.data(), tp->n_rows(), tp->n_cols(), H->H);
        } else {  // an untied input embedding: plain squared error
          for (size_t i = 0; i < w.size(); ++i) proxy += static_cast<double>(w[i] - wh[i]) * (w[i] - wh[i]);
        }
        s.proxy[b] = proxy;
        if (std::find(opt.sens_widths.begin(), opt.sens_widths.end(), b) != opt.sens_widths.end()) {
          TQ_ASSIGN_OR_RETURN(s.measured[b], probe->delta_kld(tp->name, wh.data()));
        }
      }
      // The hot-row options of the embedding and an untied head, each measured (one forward per
      // option; a head's only re-runs the head).
      if (tp->role == TensorRole::kEmbedding || tp->role == TensorRole::kHead)
        for (double b : opt.widths)
          for (double f : tp->role == TensorRole::kHead ? opt.head_hot_fractions : opt.hot_fractions) {
            TensorSpec spec = tq_spec_of_width(b, opt.group);
            spec.hot_rows = std::llround(f * static_cast<double>(tp->n_rows()));
            if (b > 5 || spec.hot_rows <= 0) continue;
            TQ_ASSIGN_OR_RETURN(const bool fits, quantize_at(*tp, w, H, spec, wh));
            if (!fits) continue;
            TQ_ASSIGN_OR_RETURN(const double d, probe->delta_kld(tp->name, wh.data()));
            s.hot_dkld[{b, spec.hot_rows}] = d;
          }
      if (s.measured.empty())
        return invalid_argument("{}: none of the widths {} fits it", tp->name, fmt::join(opt.sens_widths, ", "));
      // A width without a measurement: the nearest measured width (the lower on a tie) scaled by
      // the error ratio. Monotone: more bits are never predicted worse.
      double best = INFINITY;
      for (const auto& [b, p] : s.proxy) {
        auto m = s.measured.begin();
        for (auto it = s.measured.begin(); it != s.measured.end(); ++it)
          if (std::abs(it->first - b) < std::abs(m->first - b)) m = it;
        const double ref = s.proxy[m->first], dm = std::max(m->second, 0.0);
        const double d = m->first == b ? dm : (ref > 0 ? dm * p / ref : 0.0);
        best = std::min(best, d);
        s.dkld[b] = best;
      }
      table[tp->name] = std::move(s);
      bar.step(tp->n_params, tp->name);
    }
    bar.finish();
  }
  ctx.sens_seconds += ts.seconds() - (ctx.calib_seconds - calib_before_sens);
  MixedPlan out;
  TQ_ASSIGN_OR_RETURN(out.predicted_total, allocate_plan(plan, table, *opt.recipe.target_bpw, opt.group));
  for (const auto& t : plan.tensors)
    if (table.count(t.name) && t.spec.kind == TensorSpec::Kind::kTq)
      out.predicted[t.name] = t.spec.hot_rows > 0
                              ? table[t.name].hot_dkld.at({t.spec.width(), t.spec.hot_rows})
                              : table[t.name].dkld.at(t.spec.width());
  return out;
}

}  // namespace tq
