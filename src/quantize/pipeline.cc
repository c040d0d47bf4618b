#include "quantize/pipeline.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "core/parallel.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "formats/format.h"
#include "io/gguf_convert.h"
#include "io/gguf_writer.h"
#include "quantize/linalg.h"
#include "formats/tq_weight.h"

namespace tq {
namespace {

constexpr uint32_t kTurboQuantFormatVersion = 1;

std::vector<float> load_f32(const TensorInfo& ti) {
  const int64_t cols = ti.n_cols(), rows = ti.n_rows();
  std::vector<float> w(static_cast<size_t>(rows * cols));
  const FormatTraits* f = find_format(ti.type);
  const size_t rb = *row_bytes(ti.type, cols);
  parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f->to_float(ti.data + r * rb, w.data() + r * cols, cols);
  }, 64);
  return w;
}

// llama.cpp's tensor order: rope_freqs, token_embd, blk.0.*, blk.1.*, ..., the rest.
std::tuple<int, int64_t, std::string> order_key(const std::string& name) {
  if (name == "rope_freqs.weight") return {0, 0, name};
  if (name.starts_with("token_embd.")) return {1, 0, name};
  if (name.starts_with("blk.")) return {2, std::strtoll(name.c_str() + 4, nullptr, 10), name};
  return {3, 0, name};
}

int64_t layer_of(const std::string& name) {
  return name.starts_with("blk.") ? std::strtoll(name.c_str() + 4, nullptr, 10) : -1;
}

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

// Which calibration input a tensor's quantization uses; false when it needs none.
bool needs_hessian(const TensorPlan& t, const Method& m, const Model& model) {
  if (!t.is_matrix()) return false;
  if (t.spec.kind == TensorSpec::Kind::kGptq4) return true;
  if (t.spec.kind != TensorSpec::Kind::kTq || !(m.gptq || m.lsq)) return false;
  return t.role != TensorRole::kEmbedding;
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
  std::unique_ptr<QuantizeContext> own;
  QuantizeContext* ctx = ctx_in;
  if (!ctx) {
    own = std::make_unique<QuantizeContext>(model, opt.calib, opt.sens_windows,
                                            opt.max_hessian_bytes, opt.progress);
    ctx = own.get();
  }
  const double calib0 = ctx->calib_seconds, sens0 = ctx->sens_seconds;
  const HParams& hp = model.hp;
  QuantizeReport rep;
  rep.recipe = to_string(opt.recipe);
  rep.method = to_string(opt.method);
  TQ_ASSIGN_OR_RETURN(ModelPlan plan, make_plan(model, opt.recipe));
  std::map<std::string, double> predicted;

  // quantize_tensor, plus the hot rows of an embedding / head spec that has them.
  auto quantize_planned = [&](const TensorPlan& t, const float* w, const Method& m,
                              const HessianSet::Entry* H) -> Result<QuantizedTensor> {
    TQ_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_tensor(t, w, m, H, opt.gptq));
    if (t.spec.kind == TensorSpec::Kind::kTq && t.spec.hot_rows > 0) {
      const HeadHotRule rule =
          t.role == TensorRole::kHead ? opt.head_hot_rule : HeadHotRule::kFrequency;
      TQ_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ctx->hot_token_ids(t.spec.hot_rows, rule));
      q.add_hot_rows(w, std::move(ids), t.spec.bits, t.spec.group);
    }
    return q;
  };

  // ---- mixed precision: sensitivities, then the knapsack ----
  if (opt.recipe.target_bpw) {
    Method sm = opt.method;
    sm.adam = false;
    sm.e2e = false;
    const std::string key =
        fmt::format("g{}|{}|b{}|w{}|h{}|{}|{}", opt.group, to_string(sm),
                    fmt::join(opt.sens_widths, ","), fmt::join(opt.widths, ","),
                    fmt::join(opt.hot_fractions, ","), fmt::join(opt.head_hot_fractions, ","),
                    head_hot_rule_name(opt.head_hot_rule));
    auto& table = ctx->sensitivity[key];
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
        return ctx->hessian(ik);
      return static_cast<const HessianSet::Entry*>(nullptr);
    };
    // Ŵ of tensor t at `spec` (false: the tensor cannot take it).
    auto quantize_at = [&](const TensorPlan& t, const std::vector<float>& w, const HessianSet::Entry* H,
                           const TensorSpec& spec, std::vector<float>& wh) -> Result<bool> {
      TensorPlan tb = t;
      if (!assign_spec(tb, spec).ok()) return false;
      TQ_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_planned(tb, w.data(), sm, H));
      wh.resize(w.size());
      q.dequantize(wh.data());
      return true;
    };
    Timer ts;
    const double calib_before_sens = ctx->calib_seconds;
    if (!pending.empty()) {
      TQ_ASSIGN_OR_RETURN(SensitivityProbe * probe, ctx->probe());
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
    ctx->sens_seconds += ts.seconds() - (ctx->calib_seconds - calib_before_sens);
    TQ_ASSIGN_OR_RETURN(rep.predicted_dkld, allocate_plan(plan, table, *opt.recipe.target_bpw, opt.group));
    for (const auto& t : plan.tensors)
      if (table.count(t.name) && t.spec.kind == TensorSpec::Kind::kTq)
        predicted[t.name] = t.spec.hot_rows > 0
                                ? table[t.name].hot_dkld.at({t.spec.width(), t.spec.hot_rows})
                                : table[t.name].dkld.at(t.spec.width());
  }
  rep.n_params = plan.n_params();
  rep.total_bits = plan.total_bits();
  rep.bpw = plan.bpw();

  // ---- declarations and metadata ----
  const std::string arch = model.file.architecture();
  const bool permute = model.file.kind == SourceKind::kHfFolder && arch == "llama";
  std::vector<const TensorPlan*> order;
  for (const auto& t : plan.tensors) order.push_back(&t);
  std::vector<float> rope_freqs;
  TensorPlan rope_plan;
  if (model.file.meta.get_string_or(arch + ".rope.scaling.type", "") == "llama3" &&
      !model.file.find("rope_freqs.weight")) {
    TQ_ASSIGN_OR_RETURN(rope_freqs, llama3_rope_freq_factors(model.file.meta));
    rope_plan.name = "rope_freqs.weight";
    rope_plan.shape = {static_cast<int64_t>(rope_freqs.size())};
    rope_plan.n_params = rope_plan.shape[0];
    order.push_back(&rope_plan);
  }
  std::stable_sort(order.begin(), order.end(), [](const TensorPlan* a, const TensorPlan* b) {
    return order_key(a->name) < order_key(b->name);
  });
  // Side tensors written right after a matrix: a fractional tq tensor's group map "<name>.tq_map"
  // (i8 [n_groups]); the hot rows of the embedding or an untied head (residual rows [K, E]
  // "<m>.hot.weight", then their i32 token ids "<m>.hot_ids").
  auto side_decls = [&](const TensorPlan& t) {
    std::vector<GgufTensorDecl> d;
    if (opt.dequantized_output || !t.is_matrix()) return d;
    const TqWeightSpec* s = find_tq_weight(t.type);
    if (s && s->fractional()) d.push_back({tq_group_map_tensor_name(t.name), TypeId::i8, {t.n_cols() / s->group}});
    if (t.spec.kind == TensorSpec::Kind::kTq && t.spec.hot_rows > 0) {
      const TqWeightSpec* r = find_tq_weight(t.spec.bits, t.spec.group);
      d.push_back({hot_rows_weight_name(t.name), r->id, {t.spec.hot_rows, t.n_cols()}});
      d.push_back({hot_rows_ids_name(t.name), TypeId::i32, {t.spec.hot_rows}});
    }
    return d;
  };
  std::vector<GgufTensorDecl> decls;
  for (const TensorPlan* t : order) {
    decls.push_back({t->name, opt.dequantized_output && t->is_matrix() ? TypeId::f32 : t->type,
                     t->shape});
    for (auto& d : side_decls(*t)) decls.push_back(std::move(d));
  }
  TQ_ASSIGN_OR_RETURN(Metadata meta, gguf_metadata_for(model.file, TypeId::f32));
  meta.erase("general.file_type");
  meta.set("turboquant.format_version", MetaValue::u32(kTurboQuantFormatVersion));
  meta.set("turboquant.recipe", MetaValue::str(rep.recipe));
  meta.set("turboquant.method", MetaValue::str(rep.method));
  meta.set("turboquant.bits_per_weight", MetaValue::f64(rep.bpw));
  meta.set(kTqWeightSeedKey, MetaValue::u64(kTqWeightRotationSeed));
  meta.set("turboquant.weight.codebook", MetaValue::str("sphere-lloyd-max-int8 (b<=6), uniform (b=8)"));
  if (opt.method.needs_calibration() || recipe_needs_calibration(opt.recipe)) {
    meta.set("turboquant.calibration.seed", MetaValue::u64(opt.calib.seed));
    meta.set("turboquant.calibration.windows", MetaValue::u64(static_cast<uint64_t>(opt.calib.n_windows)));
    meta.set("turboquant.calibration.ctx", MetaValue::u64(static_cast<uint64_t>(opt.calib.n_ctx)));
    meta.set("turboquant.calibration.file",
             MetaValue::str(std::filesystem::path(opt.calib.text_path).filename().string()));
  }
  {
    std::vector<MetaValue> names, types, bits;
    for (const TensorPlan* t : order)
      if (t->is_matrix()) {
        names.push_back(MetaValue::str(t->name));
        types.push_back(MetaValue::str(type_name(t->type)));
        bits.push_back(MetaValue::f32(static_cast<float>(bits_per_element(t->type))));
      }
    meta.set("turboquant.tensor.names", MetaValue::array(MetaType::string, std::move(names)));
    meta.set("turboquant.tensor.types", MetaValue::array(MetaType::string, std::move(types)));
    meta.set("turboquant.tensor.bits_per_weight", MetaValue::array(MetaType::f32, std::move(bits)));
  }
  TQ_ASSIGN_OR_RETURN(auto writer, GgufWriter::create(out_path, meta, decls));

  // ---- quantize and write, in file order ----
  const bool tune = opt.method.adam && rep.bpw <= opt.tune_max_bpw;
  std::vector<std::vector<int32_t>> tune_windows;
  std::vector<float> h_f, h_q;  // [n_tune · T · E] float / quantized model hidden states
  int64_t T = 0;
  BlockRunner runner(model);
  if (tune) {
    TQ_ASSIGN_OR_RETURN(const auto* ws, ctx->windows());
    const int64_t n = std::min<int64_t>(opt.tune_windows, static_cast<int64_t>(ws->size()));
    tune_windows.assign(ws->begin(), ws->begin() + n);
    T = tune_windows.empty() ? 0 : static_cast<int64_t>(tune_windows[0].size());
  }
  const int64_t E = hp.n_embd;
  std::map<std::string, std::vector<uint8_t>> ready;
  std::map<std::string, TensorReport> reports;
  // The e2e step: every matrix is held here (quantized, not yet encoded) until the end-to-end tuning.
  const bool e2e = opt.method.e2e;
  struct Held {
    QuantizedTensor q;
    double seconds = 0;
  };
  std::map<std::string, Held> held;
  Progress bar("quantize", plan.n_params(), opt.progress);
  Timer tq_timer;
  double tune_s = 0;

  // Quantizes one matrix, fills its report (errors filled later by finish_tensor).
  auto quantize_one = [&](const TensorPlan& t, std::vector<float>& w,
                          const HessianSet::Entry** H) -> Result<QuantizedTensor> {
    w = load_f32(*model.file.find(t.name));
    *H = nullptr;
    InputKey ik;
    if (needs_hessian(t, opt.method, model) && input_key_of(t.name, hp.n_layer, &ik)) {
      TQ_ASSIGN_OR_RETURN(*H, ctx->hessian(ik));
    }
    return quantize_planned(t, w.data(), opt.method, *H);
  };
  // The report (errors against the source w) and the encoded bytes of a final tensor (and of its
  // side tensors) into `ready`.
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
    int64_t head_dim = 0;
    if (permute && (t.name.ends_with("attn_q.weight") || t.name.ends_with("attn_k.weight")))
      head_dim = hp.head_dim;
    if (opt.dequantized_output) {
      std::vector<float> wp(wh.size());
      for (int64_t row = 0; row < t.n_rows(); ++row) {
        const int64_t src = head_dim ? llama_permuted_row_to_hf(row, head_dim) : row;
        std::copy_n(wh.data() + src * t.n_cols(), t.n_cols(), wp.data() + row * t.n_cols());
      }
      const auto* p = reinterpret_cast<const uint8_t*>(wp.data());
      ready[t.name].assign(p, p + wp.size() * sizeof(float));
    } else {
      TQ_ASSIGN_OR_RETURN(ready[t.name], q.encode(head_dim));
      for (const GgufTensorDecl& d : side_decls(t)) {
        if (is_hot_rows_tensor(d.name) && d.name.ends_with(".hot_ids")) {
          const auto* p = reinterpret_cast<const uint8_t*>(q.hot_ids.data());
          ready[d.name].assign(p, p + q.hot_ids.size() * sizeof(int32_t));
        } else if (is_hot_rows_tensor(d.name)) {
          if (!q.hot) return invalid_argument("internal: {} has no hot rows", t.name);
          QuantizedTensor hq;
          hq.name = d.name;
          hq.type = d.type;
          hq.n_rows = q.hot->n_rows;
          hq.n_cols = q.hot->n_cols;
          hq.tq = *q.hot;
          TQ_ASSIGN_OR_RETURN(ready[d.name], hq.encode());
        } else {
          if (!q.tq || !q.tq->fractional())
            return invalid_argument("internal: {} is {} but has no group map", t.name, type_name(t.type));
          ready[d.name] = q.tq->wide;
        }
      }
    }
    return ok_status();
  };
  // A tensor whose values are chosen: finalized now, or held for the e2e step. deq_out (optional):
  // its dequantized values.
  auto finish_tensor = [&](const TensorPlan& t, QuantizedTensor q, const std::vector<float>& w,
                           const HessianSet::Entry* H, double seconds,
                           std::vector<float>* deq_out) -> Status {
    if (deq_out) {
      deq_out->resize(w.size());
      q.dequantize(deq_out->data());
    }
    bar.step(t.n_params, t.name);
    if (e2e) {
      held[t.name] = {std::move(q), seconds};
      return ok_status();
    }
    return finalize(t, q, w, H, seconds);
  };

  auto produce_layer = [&](int64_t L) -> Status {
    const BlockLinears src_views = model_block_linears(model, L);
    QuantizedTensor q[kNumBlockLinears];
    std::vector<float> w[kNumBlockLinears];
    const HessianSet::Entry* H[kNumBlockLinears] = {};
    const TensorPlan* tp[kNumBlockLinears] = {};
    double secs[kNumBlockLinears] = {};
    for (int i = 0; i < kNumBlockLinears; ++i) {
      const std::string name = fmt::format("blk.{}.{}.weight", L, linear_name(static_cast<Linear>(i)));
      tp[i] = plan.find(name);
      if (!tp[i]) return invalid_argument("tensor '{}' is missing", name);
      Timer t;
      TQ_ASSIGN_OR_RETURN(q[i], quantize_one(*tp[i], w[i], &H[i]));
      secs[i] = t.seconds();
    }
    if (tune) {
      Timer t;
      std::vector<float> deq[kNumBlockLinears];
      TqTensor* tensors[kNumBlockLinears] = {};
      BlockLinears fixed = src_views;
      for (int i = 0; i < kNumBlockLinears; ++i) {
        if (q[i].tq) {
          tensors[i] = &*q[i].tq;
        } else {
          deq[i].resize(w[i].size());
          q[i].dequantize(deq[i].data());
          fixed.w[i] = f32_view(src_views.w[i], deq[i].data());
        }
      }
      std::vector<float> target = h_f;
      for (size_t k = 0; k < tune_windows.size(); ++k)
        runner.forward(L, src_views, target.data() + k * T * E, T, nullptr);
      BlockTuneOptions to = opt.tune;
      to.seed = mix_seed(opt.tune.seed, static_cast<uint64_t>(L));
      rep.tune.push_back(tune_block_scales(runner, L, tensors, fixed, h_q, target, T, to));
      h_f = std::move(target);
      tune_s += t.seconds();
    }
    std::vector<float> deq_final[kNumBlockLinears];
    for (int i = 0; i < kNumBlockLinears; ++i)
      TQ_RETURN_IF_ERROR(finish_tensor(*tp[i], std::move(q[i]), w[i], H[i], secs[i],
                                       tune ? &deq_final[i] : nullptr));
    if (tune) {  // advance the quantized model's hidden states through the final block
      BlockLinears qv = src_views;
      for (int i = 0; i < kNumBlockLinears; ++i) qv.w[i] = f32_view(src_views.w[i], deq_final[i].data());
      for (size_t k = 0; k < tune_windows.size(); ++k)
        runner.forward(L, qv, h_q.data() + k * T * E, T, nullptr);
    }
    return ok_status();
  };

  int64_t produced_layer = -1;
  // One pass over the tensors in file order: quantizes what is not yet produced and, when `write`,
  // writes every tensor (the e2e step runs a quantizing pass first, then a writing one).
  auto run_pass = [&](bool write) -> Status {
  for (const TensorPlan* t : order) {
    if (t == &rope_plan) {
      if (write) TQ_RETURN_IF_ERROR(writer->write(rope_freqs.data(), rope_freqs.size() * sizeof(float)));
      continue;
    }
    if (!t->is_matrix()) {
      if (!write) continue;
      const TensorInfo* ti = model.file.find(t->name);
      std::vector<float> v = load_f32(*ti);
      const bool is_q = t->name.ends_with(".attn_q.bias"), is_k = t->name.ends_with(".attn_k.bias");
      if (permute && (is_q || is_k)) {
        std::vector<float> p(v.size());
        for (size_t r = 0; r < v.size(); ++r) p[r] = v[llama_permuted_row_to_hf(static_cast<int64_t>(r), hp.head_dim)];
        v.swap(p);
      }
      TQ_RETURN_IF_ERROR(writer->write(v.data(), v.size() * sizeof(float)));
      bar.step(t->n_params);
      continue;
    }
    const int64_t L = layer_of(t->name);
    if (t->role == TensorRole::kLinear && L > produced_layer) {
      for (int64_t l = produced_layer + 1; l <= L; ++l) TQ_RETURN_IF_ERROR(produce_layer(l));
      produced_layer = L;
    }
    if (!ready.count(t->name) && !held.count(t->name)) {  // embedding or untied head
      Timer tt;
      std::vector<float> w;
      const HessianSet::Entry* H = nullptr;
      TQ_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_one(*t, w, &H));
      std::vector<float> deq;
      TQ_RETURN_IF_ERROR(finish_tensor(*t, std::move(q), w, H, tt.seconds(), &deq));
      if (tune && t->role == TensorRole::kEmbedding) {
        h_f.assign(static_cast<size_t>(tune_windows.size() * T * E), 0.0f);
        h_q.assign(h_f.size(), 0.0f);
        const WeightView qemb = f32_view(model.tok_embd, deq.data());
        for (size_t k = 0; k < tune_windows.size(); ++k) {
          runner.embed(model.tok_embd, tune_windows[k].data(), T, h_f.data() + k * T * E);
          runner.embed(qemb, tune_windows[k].data(), T, h_q.data() + k * T * E);
        }
      }
    }
    if (!write) continue;
    auto it = ready.find(t->name);
    if (it == ready.end()) return invalid_argument("internal: '{}' was not produced", t->name);
    TQ_RETURN_IF_ERROR(writer->write(it->second.data(), it->second.size()));
    ready.erase(it);
    for (const GgufTensorDecl& d : side_decls(*t)) {
      auto side = ready.find(d.name);
      if (side == ready.end()) return invalid_argument("internal: '{}' was not produced", d.name);
      TQ_RETURN_IF_ERROR(writer->write(side->second.data(), side->second.size()));
      ready.erase(side);
    }
  }
  return ok_status();
  };
  if (e2e) {  // everything quantized first, then the end-to-end scales, then written
    TQ_RETURN_IF_ERROR(run_pass(false));
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
      if (needs_hessian(*tp, opt.method, model) && input_key_of(name, hp.n_layer, &ik))
        H = ctx->hessian_if_loaded(ik);
      TQ_RETURN_IF_ERROR(finalize(*tp, h.q, w, H, h.seconds));
    }
    held.clear();
  }
  TQ_RETURN_IF_ERROR(run_pass(true));
  TQ_RETURN_IF_ERROR(writer->finish());
  bar.finish();
  rep.file_bytes = writer->file_bytes();
  for (const TensorPlan* t : order)
    if (reports.count(t->name)) rep.tensors.push_back(reports[t->name]);
  rep.calib_s = ctx->calib_seconds - calib0;
  rep.sens_s = ctx->sens_seconds - sens0;
  rep.tune_s = tune_s;
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
