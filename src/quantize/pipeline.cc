#include "quantize/pipeline.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "core/progress.h"
#include "core/timer.h"
#include "formats/format.h"
#include "quantize/linalg.h"
#include "quantize/stages.h"

namespace tq {
namespace {

double rel_weight_error(const float* w, const float* wh, int64_t n) {
  double e = 0, s = 0;
  for (int64_t i = 0; i < n; ++i) {
    e += static_cast<double>(w[i] - wh[i]) * (w[i] - wh[i]);
    s += static_cast<double>(w[i]) * w[i];
  }
  return s > 0 ? e / s : 0;
}

double rel_output_error(const float* w, const float* wh, int64_t rows, int64_t cols,
                        const std::vector<double>& H) {
  std::vector<float> zero(static_cast<size_t>(rows * cols), 0.0f);
  const double e = hessian_weighted_error(w, wh, rows, cols, H);
  const double s = hessian_weighted_error(w, zero.data(), rows, cols, H);
  return s > 0 ? e / s : 0;
}

}  // namespace

std::string e2e_summary(const ModelTuneReport& r) {
  const std::string hold =
      r.n_holdout > 0 ? fmt::format(", {:.5f} -> {:.5f} on {} held-out calibration windows",
                                    r.holdout_before, r.holdout_tuned, r.n_holdout)
                      : std::string(" (no held-out windows: decided on these)");
  return fmt::format(
      "end-to-end scales: KLD {:.5f} -> {:.5f} on its {} tuning windows{} ({}), {} tensors tuned "
      "({} multipliers), {} fixed, {:.1f} s",
      r.kld_before, r.kld_tuned, r.n_windows, hold, r.kept ? "kept" : "not better: discarded",
      r.n_tuned, r.n_multipliers, r.n_fixed, r.seconds);
}

Result<QuantizeReport> quantize_model(const Model& model, const std::string& out_path,
                                      const QuantizeOptions& opt, QuantizeContext* ctx_in) {
  Timer total;
  sync_blas_threads();
  // ---- calibration: shared through the context, computed on first use ----
  std::unique_ptr<QuantizeContext> own;
  QuantizeContext* ctx = ctx_in;
  if (!ctx) {
    own = std::make_unique<QuantizeContext>(model, opt.calib, opt.sens_windows,
                                            opt.max_hessian_bytes, opt.progress);
    ctx = own.get();
  }
  const double calib0 = ctx->calib_seconds, sens0 = ctx->sens_seconds;
  QuantizeReport rep;
  rep.recipe = to_string(opt.recipe);
  rep.method = to_string(opt.method);
  TQ_ASSIGN_OR_RETURN(ModelPlan plan, make_plan(model, opt.recipe));

  // ---- sensitivity: a mixed plan ----
  std::map<std::string, double> predicted;
  if (opt.recipe.target_bpw) {
    TQ_ASSIGN_OR_RETURN(MixedPlan mixed, plan_mixed_precision(model, opt, *ctx, plan));
    rep.predicted_dkld = mixed.predicted_total;
    predicted = std::move(mixed.predicted);
  }
  rep.n_params = plan.n_params();
  rep.total_bits = plan.total_bits();
  rep.bpw = plan.bpw();

  // ---- writing: declarations and metadata first (the file streams out in order) ----
  TQ_ASSIGN_OR_RETURN(auto writer, QuantizedFileWriter::create(model, plan, opt, rep, out_path));

  // ---- per-layer quantization ----
  std::map<std::string, TensorReport> reports;
  // A final tensor: its report (errors against the source w), then encoded for the writer.
  auto finalize = [&](const TensorPlan& t, const QuantizedTensor& q, const std::vector<float>& w,
                      const HessianSet::Entry* H, double seconds) -> Status {
    std::vector<float> wh(w.size());
    q.dequantize(wh.data());
    TensorReport r;
    r.name = t.name;
    r.spec = to_string(t.spec);
    r.type = t.spec.hot_rows > 0 ? fmt::format("{}+h{}", type_name(t.type), t.spec.hot_rows)
                                 : std::string(type_name(t.type));
    r.n_params = t.n_params;
    r.bpw = static_cast<double>(t.bits()) / static_cast<double>(t.n_params);  // side tensors too
    r.weight_err = rel_weight_error(w.data(), wh.data(), static_cast<int64_t>(w.size()));
    if (H) r.output_err = rel_output_error(w.data(), wh.data(), t.n_rows(), t.n_cols(), H->H);
    if (predicted.count(t.name)) r.dkld = predicted[t.name];
    r.seconds = seconds;
    reports[t.name] = r;
    return writer->encode(t, q);
  };
  // The e2e step holds every matrix (quantized, not yet encoded) until the end-to-end tuning.
  struct Held {
    QuantizedTensor q;
    double seconds = 0;
  };
  std::map<std::string, Held> held;
  Progress bar("quantize", plan.n_params(), opt.progress);
  TensorProducer producer(model, plan, opt, *ctx,
                          [&](const TensorPlan& t, QuantizedTensor q, const std::vector<float>& w,
                              const HessianSet::Entry* H, double seconds) -> Status {
                            bar.step(t.n_params, t.name);
                            if (opt.method.e2e) {
                              held[t.name] = {std::move(q), seconds};
                              return ok_status();
                            }
                            return finalize(t, q, w, H, seconds);
                          });
  if (opt.method.e2e) {  // everything quantized first, then the end-to-end scales
    for (const TensorPlan* t : writer->order()) TQ_RETURN_IF_ERROR(producer.produce(*t));
    TQ_ASSIGN_OR_RETURN(const auto* ws, ctx->windows());
    const int64_t nw = static_cast<int64_t>(ws->size());
    const int64_t nh = std::min<int64_t>(opt.e2e_holdout, nw / 4);
    const int64_t n = opt.e2e_windows > 0 ? std::min(opt.e2e_windows, nw - nh) : nw - nh;
    std::map<std::string, QuantizedTensor*> all;
    for (auto& [name, h] : held) all[name] = &h.q;
    ModelTuneOptions mo = opt.e2e;
    mo.progress = opt.progress;
    rep.e2e = tune_model_scales(model, all, {ws->begin(), ws->begin() + n},
                                {ws->end() - nh, ws->end()}, mo);
    rep.e2e_s = rep.e2e->seconds;
    for (auto& [name, h] : held) {
      const TensorPlan* tp = plan.find(name);
      const std::vector<float> w = load_f32(*model.file.find(name));
      InputKey ik;
      const HessianSet::Entry* H = nullptr;
      if (needs_hessian(*tp, opt.method) && input_key_of(name, model.hp.n_layer, &ik))
        H = ctx->hessian_if_loaded(ik);
      TQ_RETURN_IF_ERROR(finalize(*tp, h.q, w, H, h.seconds));
    }
    held.clear();
  }
  // ---- writing, in file order (a block's matrices are produced when its first is reached) ----
  for (const TensorPlan* t : writer->order()) {
    TQ_RETURN_IF_ERROR(producer.produce(*t));
    TQ_RETURN_IF_ERROR(writer->write(*t));
    if (!t->is_matrix() && t->name != GgufLayout::kRopeFreqs) bar.step(t->n_params);
  }
  TQ_ASSIGN_OR_RETURN(rep.file_bytes, writer->finish());
  bar.finish();
  for (const TensorPlan* t : writer->order())
    if (reports.count(t->name)) rep.tensors.push_back(reports[t->name]);
  rep.tune = std::move(producer.tune_reports);
  rep.calib_s = ctx->calib_seconds - calib0;
  rep.sens_s = ctx->sens_seconds - sens0;
  rep.tune_s = producer.tune_seconds;
  rep.total_s = total.seconds();
  rep.quant_s = rep.total_s - rep.calib_s - rep.sens_s - rep.tune_s - rep.e2e_s;
  return rep;
}

std::string QuantizeReport::summary() const {
  std::string s = "| tensor | type | bits/weight | weight error | output error | predicted ΔKLD | time |\n"
                  "|---|---|---|---|---|---|---|\n";
  for (const auto& t : tensors)
    s += fmt::format("| {} | {} | {:.3f} | {:.3e} | {} | {} | {:.2f} s |\n", t.name, t.type, t.bpw,
                     t.weight_err, std::isnan(t.output_err) ? "-" : fmt::format("{:.3e}", t.output_err),
                     std::isnan(t.dkld) ? "-" : fmt::format("{:.5f}", t.dkld), t.seconds);
  s += fmt::format(
      "\nrecipe {} | method {} | {:.1f} M parameters | {:.4f} bits/weight (all tensors, vectors at 32) "
      "| file {:.2f} MB\n",
      recipe, method, n_params / 1e6, bpw, file_bytes / 1e6);
  if (!std::isnan(predicted_dkld)) s += fmt::format("predicted Σ ΔKLD of the plan: {:.4f}\n", predicted_dkld);
  if (e2e) s += e2e_summary(*e2e) + "\n";
  s += fmt::format("time: calibration {:.1f} s, sensitivity {:.1f} s, quantization {:.1f} s, "
                   "block tuning {:.1f} s, end-to-end tuning {:.1f} s, total {:.1f} s\n",
                   calib_s, sens_s, quant_s, tune_s, e2e_s, total_s);
  return s;
}

}  // namespace tq
