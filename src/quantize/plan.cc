#include "quantize/plan.h"

#include <fmt/format.h>

#include <cmath>

#include "formats/format.h"
#include "formats/tq_weight.h"

namespace tq {

const char* tensor_role_name(TensorRole r) {
  switch (r) {
    case TensorRole::kLinear:
      return "linear";
    case TensorRole::kEmbedding:
      return "embedding";
    case TensorRole::kHead:
      return "output head";
    case TensorRole::kVector:
      return "vector";
  }
  return "?";
}

int64_t TensorPlan::bits() const {
  const auto b = static_cast<int64_t>(std::llround(bits_per_element(type) * static_cast<double>(n_params)));
  const TqWeightSpec* tq = find_tq_weight(type);
  // A fractional tq tensor's group map (one i8 per input group) is stored beside it.
  const int64_t map = tq && tq->fractional() ? 8 * (n_cols() / tq->group) : 0;
  // Hot rows: the residual rows and their i32 token ids.
  int64_t hot = 0;
  if (spec.kind == TensorSpec::Kind::kTq && spec.hot_rows > 0) {
    const TqWeightSpec* r = find_tq_weight(spec.bits, spec.group);
    hot = std::llround(r->bits_per_weight() * static_cast<double>(spec.hot_rows * n_cols())) +
          32 * spec.hot_rows;
  }
  return b + map + hot;
}

int64_t ModelPlan::n_params() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.n_params;
  return n;
}

int64_t ModelPlan::total_bits() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.bits();
  return n;
}

TensorPlan* ModelPlan::find(const std::string& name) {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}
const TensorPlan* ModelPlan::find(const std::string& name) const {
  return const_cast<ModelPlan*>(this)->find(name);
}

Result<TypeId> spec_type(const TensorSpec& s) {
  std::string name;
  switch (s.kind) {
    case TensorSpec::Kind::kTq:
      name = fmt::format("tq{}{}g{}", s.bits, s.half ? ".5" : "", s.group);
      break;
    case TensorSpec::Kind::kQ8:
      name = "q8";
      break;
    case TensorSpec::Kind::kRtn4:
    case TensorSpec::Kind::kGptq4:
      name = "rtn4";
      break;
    case TensorSpec::Kind::kFormat:
      name = s.format;
      break;
  }
  const FormatTraits* f = find_format(name);
  if (!f) return unsupported("the format table has no '{}' format (for {})", name, to_string(s));
  return f->id;
}

Status assign_spec(TensorPlan& t, const TensorSpec& spec) {
  TQ_ASSIGN_OR_RETURN(TypeId id, spec_type(spec));
  const FormatTraits* f = find_format(id);
  if (t.n_cols() % f->block_elems != 0)
    return invalid_argument("tensor '{}' has rows of {} elements, not a multiple of {}'s block of {}",
                            t.name, t.n_cols(), f->name, f->block_elems);
  if (spec.hot_rows > 0) {
    if (t.name != "token_embd.weight" && t.name != "output.weight")
      return invalid_argument("tensor '{}': hot rows ({}) are for the token embedding and an "
                              "untied output head only",
                              t.name, to_string(spec));
    if (spec.hot_rows > t.n_rows())
      return invalid_argument("tensor '{}': {} hot rows of {} rows", t.name, spec.hot_rows, t.n_rows());
  }
  t.spec = spec;
  t.type = id;
  return ok_status();
}

Result<ModelPlan> make_plan(const Model& model, const Recipe& recipe) {
  ModelPlan plan;
  for (const TensorInfo& ti : model.file.tensors) {
    // Side tensors of a quantized file (group maps, hot rows) belong to its quantized weights.
    if (is_side_tensor(ti.name))
      return unsupported("{}: tensor '{}' is side data of a quantized weight; quantize the float "
                         "source model instead of a quantized file",
                         ti.file, ti.name);
    TensorPlan t;
    t.name = ti.name;
    t.shape = ti.shape;
    t.n_params = ti.n_elements();
    if (ti.shape.size() == 2 && ti.name.ends_with(".weight")) {
      if (ti.name == "token_embd.weight")
        t.role = TensorRole::kEmbedding;
      else if (ti.name == "output.weight")
        t.role = TensorRole::kHead;
      else if (ti.name.starts_with("blk."))
        t.role = TensorRole::kLinear;
    }
    if (!t.is_matrix()) {
      t.type = TypeId::f32;
      plan.tensors.push_back(std::move(t));
      continue;
    }
    // An untied output head is as sensitive as the tied one: it gets the embedding's implicit rule.
    const bool emb = t.role == TensorRole::kEmbedding || t.role == TensorRole::kHead;
    std::optional<TensorSpec> spec = spec_for(recipe, t.name, emb);
    t.pinned = spec.has_value();
    if (!spec) {
      TensorSpec placeholder;  // tq4g128 (g64 / g32 for shorter rows) until the allocator decides
      while (placeholder.group > 32 && t.n_cols() % placeholder.group != 0) placeholder.group /= 2;
      spec = placeholder;
    }
    TQ_RETURN_IF_ERROR(assign_spec(t, *spec));
    plan.tensors.push_back(std::move(t));
  }
  return plan;
}

}  // namespace tq
