// The writing stage of quantize_model (quantize/stages.h).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "formats/format.h"
#include "formats/tq_weight.h"
#include "quantize/stages.h"

namespace tq {
namespace {

constexpr uint32_t kTurboQuantFormatVersion = 1;

}  // namespace

std::vector<GgufTensorDecl> QuantizedFileWriter::side_decls(const TensorPlan& t) const {
  std::vector<GgufTensorDecl> d;
  if (opt_.dequantized_output || !t.is_matrix()) return d;
  const TqWeightSpec* s = find_tq_weight(t.type);
  if (s && s->fractional())
    d.push_back({tq_group_map_tensor_name(t.name), TypeId::i8, {t.n_cols() / s->group}});
  if (t.spec.kind == TensorSpec::Kind::kTq && t.spec.hot_rows > 0) {
    const TqWeightSpec* r = find_tq_weight(t.spec.bits, t.spec.group);
    d.push_back({hot_rows_weight_name(t.name), r->id, {t.spec.hot_rows, t.n_cols()}});
    d.push_back({hot_rows_ids_name(t.name), TypeId::i32, {t.spec.hot_rows}});
  }
  return d;
}

Result<std::unique_ptr<QuantizedFileWriter>> QuantizedFileWriter::create(
    const Model& model, const ModelPlan& plan, const QuantizeOptions& opt,
    const QuantizeReport& rep, const std::string& out_path) {
  TQ_ASSIGN_OR_RETURN(GgufLayout layout, GgufLayout::of(model.file));
  std::unique_ptr<QuantizedFileWriter> w(new QuantizedFileWriter(model, opt, std::move(layout)));
  for (const auto& t : plan.tensors) w->order_.push_back(&t);
  if (!w->layout_.rope_freqs().empty()) {
    TensorPlan& r = w->rope_plan_;
    r.name = GgufLayout::kRopeFreqs;
    r.shape = {static_cast<int64_t>(w->layout_.rope_freqs().size())};
    r.n_params = r.shape[0];
    w->order_.push_back(&r);
  }
  std::stable_sort(w->order_.begin(), w->order_.end(),
                   [](const TensorPlan* a, const TensorPlan* b) {
                     return GgufLayout::before(a->name, b->name);
                   });
  std::vector<GgufTensorDecl> decls;
  for (const TensorPlan* t : w->order_) {
    decls.push_back(
        {t->name, opt.dequantized_output && t->is_matrix() ? TypeId::f32 : t->type, t->shape});
    for (auto& d : w->side_decls(*t)) decls.push_back(std::move(d));
  }
  TQ_ASSIGN_OR_RETURN(Metadata meta, w->layout_.metadata(TypeId::f32));
  meta.erase("general.file_type");
  meta.set("turboquant.format_version", MetaValue::u32(kTurboQuantFormatVersion));
  meta.set("turboquant.recipe", MetaValue::str(rep.recipe));
  meta.set("turboquant.method", MetaValue::str(rep.method));
  meta.set("turboquant.bits_per_weight", MetaValue::f64(rep.bpw));
  meta.set(kTqWeightSeedKey, MetaValue::u64(kTqWeightRotationSeed));
  meta.set("turboquant.weight.codebook",
           MetaValue::str("sphere-lloyd-max-int8 (b<=6), uniform (b=8)"));
  if (opt.method.needs_calibration() || recipe_needs_calibration(opt.recipe)) {
    meta.set("turboquant.calibration.seed", MetaValue::u64(opt.calib.seed));
    meta.set("turboquant.calibration.windows",
             MetaValue::u64(static_cast<uint64_t>(opt.calib.n_windows)));
    meta.set("turboquant.calibration.ctx", MetaValue::u64(static_cast<uint64_t>(opt.calib.n_ctx)));
    meta.set("turboquant.calibration.file",
             MetaValue::str(std::filesystem::path(opt.calib.text_path).filename().string()));
  }
  {
    std::vector<MetaValue> names, types, bits;
    for (const TensorPlan* t : w->order_)
      if (t->is_matrix()) {
        names.push_back(MetaValue::str(t->name));
        types.push_back(MetaValue::str(type_name(t->type)));
        bits.push_back(MetaValue::f32(static_cast<float>(bits_per_element(t->type))));
      }
    meta.set("turboquant.tensor.names", MetaValue::array(MetaType::string, std::move(names)));
    meta.set("turboquant.tensor.types", MetaValue::array(MetaType::string, std::move(types)));
    meta.set("turboquant.tensor.bits_per_weight",
             MetaValue::array(MetaType::f32, std::move(bits)));
  }
  TQ_ASSIGN_OR_RETURN(w->writer_, GgufWriter::create(out_path, meta, decls));
  return w;
}

Status QuantizedFileWriter::encode(const TensorPlan& t, const QuantizedTensor& q) {
  TQ_ASSIGN_OR_RETURN(const int64_t head_dim, layout_.qk_permute_head_dim(t.name, t.n_rows()));
  if (opt_.dequantized_output) {
    std::vector<float> wh(static_cast<size_t>(t.n_rows() * t.n_cols()));
    q.dequantize(wh.data());
    std::vector<float> wp(wh.size());
    for (int64_t row = 0; row < t.n_rows(); ++row) {
      const int64_t src = head_dim ? llama_permuted_row_to_hf(row, head_dim) : row;
      std::copy_n(wh.data() + src * t.n_cols(), t.n_cols(), wp.data() + row * t.n_cols());
    }
    const auto* p = reinterpret_cast<const uint8_t*>(wp.data());
    ready_[t.name].assign(p, p + wp.size() * sizeof(float));
    return ok_status();
  }
  TQ_ASSIGN_OR_RETURN(ready_[t.name], q.encode(head_dim));
  for (const GgufTensorDecl& d : side_decls(t)) {
    if (is_hot_rows_tensor(d.name) && d.name.ends_with(".hot_ids")) {
      const auto* p = reinterpret_cast<const uint8_t*>(q.hot_ids.data());
      ready_[d.name].assign(p, p + q.hot_ids.size() * sizeof(int32_t));
    } else if (is_hot_rows_tensor(d.name)) {
      if (!q.hot) return invalid_argument("internal: {} has no hot rows", t.name);
      QuantizedTensor hq;
      hq.name = d.name;
      hq.type = d.type;
      hq.n_rows = q.hot->n_rows;
      hq.n_cols = q.hot->n_cols;
      hq.tq = *q.hot;
      TQ_ASSIGN_OR_RETURN(ready_[d.name], hq.encode());
    } else {
      if (!q.tq || !q.tq->fractional())
        return invalid_argument("internal: {} is {} but has no group map", t.name,
                                type_name(t.type));
      ready_[d.name] = q.tq->wide;
    }
  }
  return ok_status();
}

Status QuantizedFileWriter::write(const TensorPlan& t) {
  if (&t == &rope_plan_)
    return writer_->write(layout_.rope_freqs().data(), layout_.rope_freqs().size() * sizeof(float));
  if (!t.is_matrix()) {
    std::vector<float> v = load_f32(*model_.file.find(t.name));
    TQ_ASSIGN_OR_RETURN(const int64_t head_dim,
                        layout_.qk_permute_head_dim(t.name, static_cast<int64_t>(v.size())));
    if (head_dim > 0) {  // a Q/K bias: its rows as the weight's
      std::vector<float> p(v.size());
      for (size_t r = 0; r < v.size(); ++r)
        p[r] = v[llama_permuted_row_to_hf(static_cast<int64_t>(r), head_dim)];
      v.swap(p);
    }
    return writer_->write(v.data(), v.size() * sizeof(float));
  }
  auto it = ready_.find(t.name);
  if (it == ready_.end()) return invalid_argument("internal: '{}' was not produced", t.name);
  TQ_RETURN_IF_ERROR(writer_->write(it->second.data(), it->second.size()));
  ready_.erase(it);
  for (const GgufTensorDecl& d : side_decls(t)) {
    auto side = ready_.find(d.name);
    if (side == ready_.end()) return invalid_argument("internal: '{}' was not produced", d.name);
    TQ_RETURN_IF_ERROR(writer_->write(side->second.data(), side->second.size()));
    ready_.erase(side);
  }
  return ok_status();
}

Result<uint64_t> QuantizedFileWriter::finish() {
  TQ_RETURN_IF_ERROR(writer_->finish());
  return writer_->file_bytes();
}

}  // namespace tq
