// QuantizeContext (calibration data shared between runs), the per-tensor quantizer dispatch and
// the mixed-precision allocation of the pipeline (quantize/pipeline.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/parallel.h"
#include "core/timer.h"
#include "kernels/ops.h"
#include "quantize/allocate.h"
#include "quantize/pipeline.h"
#include "runtime/session.h"

namespace tq {

QuantizeContext::QuantizeContext(const Model& model, CalibrationOptions calib,
                                 int64_t sens_windows, int64_t max_hessian_bytes, bool progress)
    : model_(model),
      calib_(std::move(calib)),
      sens_windows_(sens_windows),
      max_hessian_bytes_(max_hessian_bytes),
      progress_(progress) {
  // Key groups over consecutive layers whose Hessians fit the budget together.
  std::vector<InputKey> cur;
  int64_t cur_bytes = 0;
  for (const InputKey& k : all_input_keys(model)) {
    const int64_t b = hessian_bytes(model, {k});
    if (!cur.empty() && cur_bytes + b > max_hessian_bytes_ &&
        (k.first != cur.back().first || k.second == LinearInput::kHead)) {
      ranges_.push_back(std::move(cur));
      cur.clear();
      cur_bytes = 0;
    }
    cur.push_back(k);
    cur_bytes += b;
  }
  if (!cur.empty()) ranges_.push_back(std::move(cur));
}

QuantizeContext::~QuantizeContext() = default;

Status QuantizeContext::load_windows() {
  if (have_windows_) return ok_status();
  if (calib_.text_path.empty())
    return invalid_argument("this recipe/method needs calibration text: pass --calib FILE");
  Timer t;
  TQ_ASSIGN_OR_RETURN(auto all, calibration_windows(model_, calib_, sens_windows_));
  sens_windows_list_.assign(all.begin() + calib_.n_windows, all.end());
  all.resize(static_cast<size_t>(calib_.n_windows));
  windows_ = std::move(all);
  have_windows_ = true;
  calib_seconds += t.seconds();
  return ok_status();
}

Result<const std::vector<std::vector<int32_t>>*> QuantizeContext::windows() {
  TQ_RETURN_IF_ERROR(load_windows());
  return &windows_;
}

Result<const HessianSet::Entry*> QuantizeContext::hessian(const InputKey& key) {
  if (loaded_range_ >= 0)
    if (const auto* e = hessians_.find(key)) return e;
  int idx = -1;
  for (size_t i = 0; i < ranges_.size() && idx < 0; ++i)
    for (const InputKey& k : ranges_[i])
      if (k == key) idx = static_cast<int>(i);
  if (idx < 0) return invalid_argument("no linear input for layer {}", key.first);
  TQ_RETURN_IF_ERROR(load_windows());
  Timer t;
  hessians_ = HessianSet{};
  if (ranges_.size() > 1 && progress_)
    std::fprintf(stderr, "calibration pass %d of %zu (Hessians of layers %lld..%lld)\n", idx + 1,
                 ranges_.size(), static_cast<long long>(ranges_[idx].front().first),
                 static_cast<long long>(ranges_[idx].back().first));
  TQ_ASSIGN_OR_RETURN(hessians_, collect_hessians(model_, windows_, ranges_[idx], progress_));
  loaded_range_ = idx;
  calib_tokens_ = hessians_.n_tokens;
  calib_seconds += t.seconds();
  const auto* e = hessians_.find(key);
  if (!e) return invalid_argument("calibration produced no Hessian for layer {}", key.first);
  return e;
}

const char* head_hot_rule_name(HeadHotRule r) {
  return r == HeadHotRule::kPredicted ? "prob" : "freq";
}

Result<std::vector<int32_t>> QuantizeContext::hot_token_ids(int64_t k, HeadHotRule rule) {
  TQ_RETURN_IF_ERROR(load_windows());
  const int64_t V = model_.hp.n_vocab;
  if (rule == HeadHotRule::kFrequency && token_counts_.empty()) {
    token_counts_.assign(static_cast<size_t>(V), 0);
    for (const auto& w : windows_)
      for (int32_t id : w)
        if (id >= 0 && id < V) ++token_counts_[id];
  }
  if (rule == HeadHotRule::kPredicted && mean_probs_.empty()) {
    Timer t;
    mean_probs_.assign(static_cast<size_t>(V), 0.0);
    if (!windows_.empty()) {
      const auto T = static_cast<int64_t>(windows_[0].size());
      SessionOptions so;
      so.n_ctx = T;
      so.n_batch = T;
      TQ_ASSIGN_OR_RETURN(auto session, Session::create(model_, so));
      std::vector<double> lse(static_cast<size_t>(T));
      int64_t n = 0;
      for (const auto& w : windows_) {
        session->reset();
        TQ_RETURN_IF_ERROR(session->eval(w, LogitsMode::kAll));
        const float* logits = session->logits().data();
        parallel_for(T, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) lse[i] = logsumexp(logits + i * V, V);
        }, 8);
        parallel_for(V, [&](int64_t b, int64_t e) {  // Σ_i softmax(row i)[v], a slice of v each
          for (int64_t i = 0; i < T; ++i)
            for (int64_t v = b; v < e; ++v) mean_probs_[v] += std::exp(logits[i * V + v] - lse[i]);
        }, 256);
        n += T;
      }
      for (double& p : mean_probs_) p /= static_cast<double>(std::max<int64_t>(n, 1));
    }
    calib_seconds += t.seconds();
  }
  k = std::clamp<int64_t>(k, 0, V);
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  if (rule == HeadHotRule::kPredicted)
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int32_t a, int32_t b) { return mean_probs_[a] > mean_probs_[b]; });
  else
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int32_t a, int32_t b) { return token_counts_[a] > token_counts_[b]; });
  ids.resize(static_cast<size_t>(k));
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<SensitivityProbe*> QuantizeContext::probe() {
  if (!probe_) {
    TQ_RETURN_IF_ERROR(load_windows());
    probe_ = std::make_unique<SensitivityProbe>(model_, sens_windows_list_);
  }
  return probe_.get();
}

Result<QuantizedTensor> quantize_tensor(const TensorPlan& t, const float* w, const Method& method,
                                        const HessianSet::Entry* H, const GptqOptions& gptq) {
  const int64_t R = t.n_rows(), C = t.n_cols();
  const TensorSpec& s = t.spec;
  QuantizedTensor q;
  q.name = t.name;
  q.type = t.type;
  q.n_rows = R;
  q.n_cols = C;
  switch (s.kind) {
    case TensorSpec::Kind::kTq: {
      const ScaleSearch search = method.norm_scale ? ScaleSearch::kNorm : ScaleSearch::kLeastSquares;
      // The tied embedding stays data-free (measured: GPTQ with the head's H alone hurts its role
      // as the input lookup, research WEIGHTS.md §3).
      const bool data_aware = t.role != TensorRole::kEmbedding && H != nullptr;
      // A fractional spec: the groups with the largest (H-weighted) energy get the extra bit.
      const std::vector<uint8_t> wide =
          s.half ? tq_choose_wide_groups(w, R, C, s.group, data_aware ? &H->H : nullptr)
                 : std::vector<uint8_t>{};
      if (method.gptq && data_aware) {
        TQ_ASSIGN_OR_RETURN(TqTensor tt,
                            tq_quantize_gptq(w, R, C, H->H, s.bits, s.group, gptq, search, wide));
        q.tq = std::move(tt);
      } else {
        q.tq = tq_quantize_datafree(w, R, C, s.bits, s.group, search, wide);
      }
      if (method.lsq && data_aware) tq_refit_scales(*q.tq, w, H->H, gptq.damp);
      return q;
    }
    case TensorSpec::Kind::kRtn4:  // the format's own round-to-nearest quantizer
      return quantize_with_format(t.name, t.type, w, R, C);
    case TensorSpec::Kind::kGptq4: {
      if (!H) return invalid_argument("{}: gptq4 needs calibration Hessians", t.name);
      TQ_ASSIGN_OR_RETURN(Int4Tensor it, gptq4_quantize(w, R, C, H->H, gptq.damp));
      q.int4 = std::move(it);
      return q;
    }
    case TensorSpec::Kind::kQ8:
    case TensorSpec::Kind::kFormat:
      return quantize_with_format(t.name, t.type, w, R, C);
  }
  return invalid_argument("{}: unknown spec", t.name);
}

Result<double> allocate_plan(ModelPlan& plan, const std::map<std::string, TensorSensitivity>& sens,
                             double target_bpw, int group) {
  int64_t fixed_bits = 0;
  std::vector<AllocItem> items;
  std::vector<TensorPlan*> targets;
  std::vector<std::vector<TensorSpec>> specs;  // [item][option]
  for (TensorPlan& t : plan.tensors) {
    if (!t.is_matrix() || t.pinned) {
      fixed_bits += t.bits();
      continue;
    }
    auto it = sens.find(t.name);
    if (it == sens.end()) return invalid_argument("no sensitivity measured for '{}'", t.name);
    AllocItem item{t.name, {}};
    std::vector<TensorSpec> ss;
    auto add = [&](TensorSpec spec, double cost) -> Status {
      TensorPlan probe = t;
      TQ_RETURN_IF_ERROR(assign_spec(probe, spec));
      item.options.push_back({probe.bits(), cost});
      ss.push_back(spec);
      return ok_status();
    };
    for (const auto& [b, cost] : it->second.dkld) TQ_RETURN_IF_ERROR(add(tq_spec_of_width(b, group), cost));
    for (const auto& [bk, cost] : it->second.hot_dkld) {
      TensorSpec spec = tq_spec_of_width(bk.first, group);
      spec.hot_rows = bk.second;
      TQ_RETURN_IF_ERROR(add(spec, cost));
    }
    items.push_back(std::move(item));
    targets.push_back(&t);
    specs.push_back(std::move(ss));
  }
  const int64_t budget =
      static_cast<int64_t>(std::floor(target_bpw * static_cast<double>(plan.n_params()))) - fixed_bits;
  int64_t total = 0;
  for (const auto& it : items) {
    int64_t most = 0;
    for (const auto& o : it.options) most = std::max(most, o.bits);
    total += most;
  }
  const int64_t unit = std::max<int64_t>(2048, total / 200000);
  TQ_ASSIGN_OR_RETURN(AllocResult r, allocate_bits(items, budget, unit));
  for (size_t i = 0; i < targets.size(); ++i)
    TQ_RETURN_IF_ERROR(assign_spec(*targets[i], specs[i][r.choice[i]]));
  return r.cost;
}

}  // namespace tq
