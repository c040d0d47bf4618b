// The plan of a quantization run: every tensor of the source model, its role, the spec the
// recipe (or the allocator) gives it, the storage type that spec means, and the size in bits —
// counted the way the llama.cpp anchors count (every tensor, the embedding included, norms and
// other vectors at 32 bits).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "quantize/recipe.h"
#include "tq/status.h"

namespace tq {

enum class TensorRole {
  kLinear,     // a block's linear weight (attn_q ... ffn_down)
  kEmbedding,  // token_embd (also the output head when tied)
  kHead,       // an untied output.weight
  kVector,     // norms, biases, rope factors: stored f32, never quantized
};
const char* tensor_role_name(TensorRole r);

struct TensorPlan {
  std::string name;             // llama.cpp name ("blk.0.attn_q.weight")
  TensorRole role = TensorRole::kVector;
  std::vector<int64_t> shape;   // [n_rows, n_cols] for matrices
  int64_t n_params = 0;
  TensorSpec spec;              // matrices only
  bool pinned = false;          // spec fixed by the recipe (not by the allocator)
  TypeId type = TypeId::f32;    // storage type in the output file

  int64_t n_rows() const { return shape.size() == 2 ? shape[0] : 1; }
  int64_t n_cols() const { return shape.back(); }
  bool is_matrix() const { return role != TensorRole::kVector; }
  int64_t bits() const;         // n_params × bits per element of `type`
};

struct ModelPlan {
  std::vector<TensorPlan> tensors;  // in the source's order
  int64_t n_params() const;
  int64_t total_bits() const;
  double bpw() const { return static_cast<double>(total_bits()) / static_cast<double>(n_params()); }
  TensorPlan* find(const std::string& name);
  const TensorPlan* find(const std::string& name) const;
};

// The storage type of a spec (tq<b>g<G>, q8, rtn4 — also gptq4's —, or the named format). Error
// when the format table does not have it.
Result<TypeId> spec_type(const TensorSpec& s);

// Builds the plan for `model` from `recipe`: every tensor gets its role; matrices get the recipe's
// spec (for a mixed recipe: overrides only; the others are marked unpinned with spec tq<b> as a
// placeholder until assign_spec). Errors: a spec whose group does not divide a tensor's row length
// (names the tensor), unknown formats.
Result<ModelPlan> make_plan(const Model& model, const Recipe& recipe);

// Sets a tensor's spec and storage type.
Status assign_spec(TensorPlan& t, const TensorSpec& spec);

}  // namespace tq
