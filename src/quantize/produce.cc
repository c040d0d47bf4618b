// The per-layer quantization stage of quantize_model (quantize/stages.h).
#include <fmt/format.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "core/timer.h"
#include "formats/format.h"
#include "quantize/stages.h"

namespace tq {

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

int64_t layer_of(const std::string& name) {
  return name.starts_with("blk.") ? std::strtoll(name.c_str() + 4, nullptr, 10) : -1;
}

bool needs_hessian(const TensorPlan& t, const Method& m) {
  if (!t.is_matrix()) return false;
  if (t.spec.kind == TensorSpec::Kind::kGptq4) return true;
  if (t.spec.kind != TensorSpec::Kind::kTq || !(m.gptq || m.lsq)) return false;
  return t.role != TensorRole::kEmbedding;
}

Result<QuantizedTensor> quantize_planned(const TensorPlan& t, const float* w, const Method& m,
                                         const HessianSet::Entry* H, const QuantizeOptions& opt,
                                         QuantizeContext& ctx) {
  TQ_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_tensor(t, w, m, H, opt.gptq));
  if (t.spec.kind == TensorSpec::Kind::kTq && t.spec.hot_rows > 0) {
    const HeadHotRule rule =
        t.role == TensorRole::kHead ? opt.head_hot_rule : HeadHotRule::kFrequency;
    TQ_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ctx.hot_token_ids(t.spec.hot_rows, rule));
    q.add_hot_rows(w, std::move(ids), t.spec.bits, t.spec.group);
  }
  return q;
}

TensorProducer::TensorProducer(const Model& model, const ModelPlan& plan,
                               const QuantizeOptions& opt, QuantizeContext& ctx, FinishFn finish)
    : model_(model), plan_(plan), opt_(opt), ctx_(ctx), finish_(std::move(finish)) {
  tune_ = opt.method.adam && plan.bpw() <= opt.tune_max_bpw;
}

Status TensorProducer::prepare_tuning() {
  if (runner_) return ok_status();
  runner_ = std::make_unique<BlockRunner>(model_);
  TQ_ASSIGN_OR_RETURN(const auto* ws, ctx_.windows());
  const int64_t n = std::min<int64_t>(opt_.tune_windows, static_cast<int64_t>(ws->size()));
  tune_windows_.assign(ws->begin(), ws->begin() + n);
  T_ = tune_windows_.empty() ? 0 : static_cast<int64_t>(tune_windows_[0].size());
  return ok_status();
}

Result<QuantizedTensor> TensorProducer::quantize_one(const TensorPlan& t, std::vector<float>& w,
                                                     const HessianSet::Entry** H) {
  w = load_f32(*model_.file.find(t.name));
  *H = nullptr;
  InputKey ik;
  if (needs_hessian(t, opt_.method) && input_key_of(t.name, model_.hp.n_layer, &ik)) {
    TQ_ASSIGN_OR_RETURN(*H, ctx_.hessian(ik));
  }
  return quantize_planned(t, w.data(), opt_.method, *H, opt_, ctx_);
}

Status TensorProducer::produce(const TensorPlan& t) {
  if (!t.is_matrix()) return ok_status();
  const int64_t L = layer_of(t.name);
  if (t.role == TensorRole::kLinear) {
    for (int64_t l = produced_layer_ + 1; l <= L; ++l) {
      TQ_RETURN_IF_ERROR(produce_layer(l));
      produced_layer_ = l;
    }
    return ok_status();
  }
  if (produced_[t.name]) return ok_status();
  produced_[t.name] = true;
  return produce_single(t);
}

// The embedding or an untied head. The embedding starts the tuning's hidden states.
Status TensorProducer::produce_single(const TensorPlan& t) {
  Timer tt;
  std::vector<float> w;
  const HessianSet::Entry* H = nullptr;
  TQ_ASSIGN_OR_RETURN(QuantizedTensor q, quantize_one(t, w, &H));
  if (tune_ && t.role == TensorRole::kEmbedding) {
    TQ_RETURN_IF_ERROR(prepare_tuning());
    const int64_t E = model_.hp.n_embd;
    std::vector<float> deq(w.size());
    q.dequantize(deq.data());
    h_f_.assign(static_cast<size_t>(tune_windows_.size() * T_ * E), 0.0f);
    h_q_.assign(h_f_.size(), 0.0f);
    const WeightView qemb = f32_view(model_.tok_embd, deq.data());
    for (size_t k = 0; k < tune_windows_.size(); ++k) {
      runner_->embed(model_.tok_embd, tune_windows_[k].data(), T_, h_f_.data() + k * T_ * E);
      runner_->embed(qemb, tune_windows_[k].data(), T_, h_q_.data() + k * T_ * E);
    }
  }
  return finish_(t, std::move(q), w, H, tt.seconds());
}

Status TensorProducer::produce_layer(int64_t L) {
  const BlockLinears src_views = model_block_linears(model_, L);
  const int64_t E = model_.hp.n_embd;
  QuantizedTensor q[kNumBlockLinears];
  std::vector<float> w[kNumBlockLinears];
  const HessianSet::Entry* H[kNumBlockLinears] = {};
  const TensorPlan* tp[kNumBlockLinears] = {};
  double secs[kNumBlockLinears] = {};
  for (int i = 0; i < kNumBlockLinears; ++i) {
    const std::string name =
        fmt::format("blk.{}.{}.weight", L, linear_name(static_cast<Linear>(i)));
    tp[i] = plan_.find(name);
    if (!tp[i]) return invalid_argument("tensor '{}' is missing", name);
    Timer t;
    TQ_ASSIGN_OR_RETURN(q[i], quantize_one(*tp[i], w[i], &H[i]));
    secs[i] = t.seconds();
  }
  if (!tune_) {
    for (int i = 0; i < kNumBlockLinears; ++i)
      TQ_RETURN_IF_ERROR(finish_(*tp[i], std::move(q[i]), w[i], H[i], secs[i]));
    return ok_status();
  }
  // Block-output tuning: the float block's outputs on the float hidden states are the target for
  // the quantized block fed the quantized model's own hidden states.
  TQ_RETURN_IF_ERROR(prepare_tuning());
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
  std::vector<float> target = h_f_;
  for (size_t k = 0; k < tune_windows_.size(); ++k)
    runner_->forward(L, src_views, target.data() + k * T_ * E, T_, nullptr);
  BlockTuneOptions to = opt_.tune;
  to.seed = mix_seed(opt_.tune.seed, static_cast<uint64_t>(L));
  tune_reports.push_back(tune_block_scales(*runner_, L, tensors, fixed, h_q_, target, T_, to));
  h_f_ = std::move(target);
  tune_seconds += t.seconds();
  // Advance the quantized model's hidden states through the final block.
  BlockLinears qv = src_views;
  for (int i = 0; i < kNumBlockLinears; ++i) {
    deq[i].resize(w[i].size());
    q[i].dequantize(deq[i].data());
    qv.w[i] = f32_view(src_views.w[i], deq[i].data());
  }
  for (size_t k = 0; k < tune_windows_.size(); ++k)
    runner_->forward(L, qv, h_q_.data() + k * T_ * E, T_, nullptr);
  for (int i = 0; i < kNumBlockLinears; ++i)
    TQ_RETURN_IF_ERROR(finish_(*tp[i], std::move(q[i]), w[i], H[i], secs[i]));
  return ok_status();
}

}  // namespace tq
