#include "model/model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>

#include "formats/format.h"
#include "formats/tq_weight.h"
#include "io/checksum.h"
#include "io/gguf_convert.h"

namespace tq {
namespace {

std::string where(const ModelFile& mf, const TensorInfo& t) {
  return t.file.empty() ? mf.path : t.file;
}

// Checks type, shape and byte size of a tensor; `what` explains the expected shape in config terms.
Status check_tensor(const ModelFile& mf, const TensorInfo& t, const std::vector<int64_t>& shape,
                    const char* what) {
  if (t.shape != shape)
    return corrupt_file(
        "{}: tensor '{}' has shape {}, expected [{}] ({} from the model's hyper-parameters)",
        where(mf, t), t.name, t.shape_string(), fmt::join(shape, ", "), what);
  const FormatTraits* f = find_format(t.type);
  if (!f)
    return unsupported("{}: tensor '{}' has unknown type id {}", where(mf, t), t.name,
                       static_cast<uint32_t>(t.type));
  auto nb = tensor_bytes(t.type, t.shape);
  if (!nb.ok())
    return corrupt_file("{}: tensor '{}': {}", where(mf, t), t.name, nb.status().message());
  if (*nb != t.n_bytes || (t.n_bytes > 0 && t.data == nullptr))
    return corrupt_file("{}: tensor '{}' holds {} bytes, but {} {} needs {}", where(mf, t), t.name,
                        t.n_bytes, f->name, t.shape_string(), *nb);
  return ok_status();
}

// Quantized formats with a row validator (ours): every scale must be finite. Reads each row's
// scales once (the whole tensor passes through the cache; decode reads it all anyway).
Status check_scales(const ModelFile& mf, const TensorInfo& t) {
  const FormatTraits* f = find_format(t.type);
  if (!f->validate_row) return ok_status();
  const size_t rb = *row_bytes(t.type, t.n_cols());
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    int64_t bad = 0;
    if (!f->validate_row(t.data + static_cast<size_t>(r) * rb, t.n_cols(), &bad)) {
      if (bad < 0)
        return corrupt_file("{}: tensor '{}' ({}): row {} has a non-finite scale", where(mf, t),
                            t.name, f->name, r);
      return corrupt_file("{}: tensor '{}' ({}): row {}, block {} has a non-finite scale or "
                          "offset (NaN/Inf f16)",
                          where(mf, t), t.name, f->name, r, bad);
    }
  }
  return ok_status();
}

// Files with tq<b>g<G> weights record the rotation seed their codes were made with; it must be
// this build's (the seed fixes the rotation signs, a format constant).
Status check_tq_seed(const ModelFile& mf) {
  const TensorInfo* tq_tensor = nullptr;
  for (const auto& t : mf.tensors)
    if (find_tq_weight(t.type)) {
      tq_tensor = &t;
      break;
    }
  if (!tq_tensor) return ok_status();
  const MetaValue* v = mf.meta.find(kTqWeightSeedKey);
  int64_t seed = 0;
  if (!v || !v->get_int(&seed))
    return corrupt_file("{}: tensor '{}' is {} but the file has no integer '{}' (tq convert and "
                        "tq quantize write it)",
                        mf.path, tq_tensor->name, type_name(tq_tensor->type), kTqWeightSeedKey);
  if (static_cast<uint64_t>(seed) != kTqWeightRotationSeed)
    return unsupported("{}: '{}' is {:#x}; this build's tq formats use {:#x}", mf.path,
                       kTqWeightSeedKey, static_cast<uint64_t>(seed), kTqWeightRotationSeed);
  return ok_status();
}

class Binder {
 public:
  Binder(const ModelFile& mf, std::vector<std::unique_ptr<TqGroupMap>>* maps)
      : mf_(mf), maps_(maps) {}

  Result<WeightView> matrix(const std::string& name, int64_t rows, int64_t cols, const char* what) {
    const TensorInfo* t = mf_.find(name);
    if (!t) return corrupt_file("{}: tensor '{}' is missing", mf_.path, name);
    TQ_RETURN_IF_ERROR(check_tensor(mf_, *t, {rows, cols}, what));
    TQ_RETURN_IF_ERROR(check_scales(mf_, *t));
    WeightView w{t->type, rows, cols, t->data, *row_bytes(t->type, cols)};
    const TqWeightSpec* spec = find_tq_weight(t->type);
    if (spec && spec->fractional()) {
      TQ_ASSIGN_OR_RETURN(w.aux, group_map(*t, *spec));
    }
    return w;
  }

  // The group map of a fractional tq tensor: the i8 side tensor "<name>.tq_map" ([n_groups]).
  Result<const TqGroupMap*> group_map(const TensorInfo& t, const TqWeightSpec& spec) {
    const std::string name = tq_group_map_tensor_name(t.name);
    const TensorInfo* m = mf_.find(name);
    if (!m)
      return corrupt_file("{}: tensor '{}' is {} but its group map '{}' is missing", where(mf_, t),
                          t.name, spec.name, name);
    const int64_t n_groups = t.n_cols() / spec.group;
    TQ_RETURN_IF_ERROR(check_tensor(mf_, *m, {n_groups}, "the weight's groups"));
    if (m->type != TypeId::i8)
      return corrupt_file("{}: group map '{}' has type {}, expected i8", where(mf_, *m), name,
                          type_name(m->type));
    std::vector<uint8_t> wide(m->data, m->data + n_groups);
    auto map = tq_group_map(wide);
    if (!map.ok())
      return corrupt_file("{}: group map '{}': {}", where(mf_, *m), name, map.status().message());
    maps_->push_back(std::make_unique<TqGroupMap>(std::move(*map)));
    return maps_->back().get();
  }

  // The hot rows of `vocab_matrix` (an empty HotRows when the file has none): ids
  // "<m>.hot_ids" (1-D i32 [K], K >= 1, strictly increasing, < n_vocab) and residual rows
  // "<m>.hot.weight" [K, n_embd]; one without the other is an error.
  Result<HotRows> hot_rows(std::string_view vocab_matrix, int64_t n_vocab, int64_t n_embd) {
    HotRows h;
    const char* ids_name = hot_rows_ids_name(vocab_matrix);
    const char* rows_name = hot_rows_weight_name(vocab_matrix);
    const TensorInfo* ids = mf_.find(ids_name);
    if (!ids) {
      if (mf_.find(rows_name))
        return corrupt_file("{}: tensor '{}' is present but its ids '{}' are missing", mf_.path,
                            rows_name, ids_name);
      return h;
    }
    if (ids->shape.size() != 1 || ids->type != TypeId::i32 || ids->shape[0] < 1)
      return corrupt_file("{}: tensor '{}' must be a non-empty 1-D i32 tensor, not {} {}",
                          where(mf_, *ids), ids_name, type_name(ids->type), ids->shape_string());
    const int64_t K = ids->shape[0];
    TQ_RETURN_IF_ERROR(check_tensor(mf_, *ids, {K}, "hot rows"));
    if (!mf_.find(rows_name))
      return corrupt_file("{}: tensor '{}' is present but its residual rows '{}' are missing",
                          mf_.path, ids_name, rows_name);
    TQ_ASSIGN_OR_RETURN(h.rows, matrix(rows_name, K, n_embd, "hot rows (ids) x n_embd"));
    h.ids.resize(static_cast<size_t>(K));
    std::memcpy(h.ids.data(), ids->data, static_cast<size_t>(K) * sizeof(int32_t));
    h.slot.assign(static_cast<size_t>(n_vocab), -1);
    for (int64_t k = 0; k < K; ++k) {
      const int32_t id = h.ids[k];
      if (id < 0 || id >= n_vocab || (k > 0 && id <= h.ids[k - 1]))
        return corrupt_file("{}: tensor '{}': entry {} is {} (ids must be strictly increasing and "
                            "below n_vocab {})",
                            where(mf_, *ids), ids_name, k, id, n_vocab);
      h.slot[id] = static_cast<int32_t>(k);
    }
    return h;
  }

  // A 1-D tensor as f32; `required` false: absent gives an empty vector.
  Result<std::vector<float>> vec(const std::string& name, int64_t n, const char* what,
                                 bool required = true) {
    const TensorInfo* t = mf_.find(name);
    if (!t) {
      if (!required) return std::vector<float>{};
      return corrupt_file("{}: tensor '{}' is missing", mf_.path, name);
    }
    TQ_RETURN_IF_ERROR(check_tensor(mf_, *t, {n}, what));
    std::vector<float> out(static_cast<size_t>(n));
    find_format(t->type)->to_float(t->data, out.data(), n);
    return out;
  }

 private:
  const ModelFile& mf_;
  std::vector<std::unique_ptr<TqGroupMap>>* maps_;
};

}  // namespace

const char* hot_rows_weight_name(std::string_view matrix) {
  return matrix == "token_embd.weight" ? kHotRowsWeight
         : matrix == "output.weight"   ? kOutputHotRowsWeight
                                       : nullptr;
}

const char* hot_rows_ids_name(std::string_view matrix) {
  return matrix == "token_embd.weight" ? kHotRowsIds
         : matrix == "output.weight"   ? kOutputHotRowsIds
                                       : nullptr;
}

void weight_row_to_float(const WeightView& w, int64_t row, float* out) {
  row_to_float(*find_format(w.type), w.row(row), out, w.n_cols, w.aux);
}

size_t Model::weight_bytes_per_token() const {
  auto bytes = [](const WeightView& w) { return w.row_bytes * static_cast<size_t>(w.n_rows); };
  size_t total = tok_embd.row_bytes + bytes(output) + bytes(head_hot().rows);
  for (const auto& l : layers)
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.w_gate) +
             bytes(l.w_up) + bytes(l.w_down);
  return total;
}

size_t Model::file_tensor_bytes() const {
  size_t total = 0;
  for (const auto& t : file.tensors) total += t.n_bytes;
  return total;
}

Result<std::unique_ptr<Model>> bind_model(ModelFile mf) {
  auto m = std::make_unique<Model>();
  m->file = std::move(mf);
  const ModelFile& f = m->file;
  TQ_ASSIGN_OR_RETURN(m->hp, read_hparams(f));
  TQ_RETURN_IF_ERROR(check_tq_seed(f));
  const HParams& hp = m->hp;
  Binder b(f, &m->group_maps);
  TQ_ASSIGN_OR_RETURN(m->tok_embd,
                      b.matrix("token_embd.weight", hp.n_vocab, hp.n_embd, "n_vocab x n_embd"));
  TQ_ASSIGN_OR_RETURN(m->tok_embd_hot, b.hot_rows("token_embd.weight", hp.n_vocab, hp.n_embd));
  if (f.find("output.weight")) {
    TQ_ASSIGN_OR_RETURN(m->output,
                        b.matrix("output.weight", hp.n_vocab, hp.n_embd, "n_vocab x n_embd"));
    TQ_ASSIGN_OR_RETURN(m->output_hot, b.hot_rows("output.weight", hp.n_vocab, hp.n_embd));
  } else {
    m->output = m->tok_embd;
    m->tied_output = true;
    for (const char* name : {kOutputHotRowsWeight, kOutputHotRowsIds})
      if (f.find(name))
        return corrupt_file("{}: tensor '{}' is present but the model has no output.weight (its "
                            "head is tied to the embedding, whose hot rows are token_embd.hot.*)",
                            f.path, name);
  }
  TQ_ASSIGN_OR_RETURN(m->output_norm, b.vec("output_norm.weight", hp.n_embd, "n_embd"));
  const bool need_bias = hp.arch == Arch::kQwen2;
  const bool need_qk_norm = hp.arch == Arch::kQwen3;
  m->layers.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    LayerWeights& l = m->layers[i];
    const std::string p = fmt::format("blk.{}.", i);
    TQ_ASSIGN_OR_RETURN(l.attn_norm, b.vec(p + "attn_norm.weight", hp.n_embd, "n_embd"));
    TQ_ASSIGN_OR_RETURN(
        l.wq, b.matrix(p + "attn_q.weight", hp.q_dim(), hp.n_embd, "n_head*head_dim x n_embd"));
    TQ_ASSIGN_OR_RETURN(
        l.wk, b.matrix(p + "attn_k.weight", hp.kv_dim(), hp.n_embd, "n_head_kv*head_dim x n_embd"));
    TQ_ASSIGN_OR_RETURN(
        l.wv, b.matrix(p + "attn_v.weight", hp.kv_dim(), hp.n_embd, "n_head_kv*head_dim x n_embd"));
    TQ_ASSIGN_OR_RETURN(l.wo, b.matrix(p + "attn_output.weight", hp.n_embd, hp.q_dim(),
                                       "n_embd x n_head*head_dim"));
    TQ_ASSIGN_OR_RETURN(l.bq, b.vec(p + "attn_q.bias", hp.q_dim(), "n_head*head_dim", need_bias));
    TQ_ASSIGN_OR_RETURN(l.bk,
                        b.vec(p + "attn_k.bias", hp.kv_dim(), "n_head_kv*head_dim", need_bias));
    TQ_ASSIGN_OR_RETURN(l.bv,
                        b.vec(p + "attn_v.bias", hp.kv_dim(), "n_head_kv*head_dim", need_bias));
    TQ_ASSIGN_OR_RETURN(l.q_norm,
                        b.vec(p + "attn_q_norm.weight", hp.head_dim, "head_dim", need_qk_norm));
    TQ_ASSIGN_OR_RETURN(l.k_norm,
                        b.vec(p + "attn_k_norm.weight", hp.head_dim, "head_dim", need_qk_norm));
    if (l.q_norm.empty() != l.k_norm.empty())
      return corrupt_file("{}: layer {} has only one of attn_q_norm / attn_k_norm", f.path, i);
    TQ_ASSIGN_OR_RETURN(l.ffn_norm, b.vec(p + "ffn_norm.weight", hp.n_embd, "n_embd"));
    TQ_ASSIGN_OR_RETURN(l.w_gate,
                        b.matrix(p + "ffn_gate.weight", hp.n_ff, hp.n_embd, "n_ff x n_embd"));
    TQ_ASSIGN_OR_RETURN(l.w_up, b.matrix(p + "ffn_up.weight", hp.n_ff, hp.n_embd, "n_ff x n_embd"));
    TQ_ASSIGN_OR_RETURN(l.w_down,
                        b.matrix(p + "ffn_down.weight", hp.n_embd, hp.n_ff, "n_embd x n_ff"));
  }
  TQ_ASSIGN_OR_RETURN(std::vector<float> freq_factors, b.vec("rope_freqs.weight", hp.rope.n_rot / 2,
                                                             "rope.dimension_count / 2", false));
  if (freq_factors.empty() && hp.rope.scaling == RopeScaling::kLlama3) {
    // The factors convert_hf_to_gguf stores as rope_freqs.weight, computed from the same keys in
    // float32: an HF folder and its GGUF then rotate by bit-identical angles.
    TQ_ASSIGN_OR_RETURN(freq_factors, llama3_rope_freq_factors(f.meta));
  }
  for (float x : freq_factors)
    if (!(x > 0) || !std::isfinite(x))
      return corrupt_file("{}: rope_freqs.weight holds a non-positive or non-finite factor",
                          f.path);
  m->rope_inv_freq = rope_inv_freq(hp.rope, freq_factors);
  m->qk_interleaved = f.kind == SourceKind::kGguf && hp.arch == Arch::kLlama;
  return m;
}

Result<std::unique_ptr<Model>> load_model(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(ModelFile mf, open_model(path));
  TQ_RETURN_IF_ERROR(verify_checksums_at_load(mf));  // files tq wrote, up to 1 GiB (io/checksum.h)
  return bind_model(std::move(mf));
}

}  // namespace tq
