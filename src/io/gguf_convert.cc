#include "io/gguf_convert.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "core/parallel.h"
#include "core/progress.h"
#include "formats/format.h"
#include "formats/tq_weight.h"
#include "io/tokenizer.h"

namespace tq {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return std::string_view(s).ends_with(suffix);
}

// One output tensor: where its rows come from and how.
struct Job {
  GgufTensorDecl decl;
  const TensorInfo* src = nullptr;             // null for synthetic tensors
  const std::vector<float>* values = nullptr;  // synthetic f32 data (rope_freqs)
  int64_t permute_head_dim = 0;                // > 0: llama Q/K row permutation with this head size
  bool group_map = false;  // the i8 group map of src's weight, for a fractional tq target
};

// A source tensor's group map when its format has side data (fractional tq), else null.
Result<std::unique_ptr<TqGroupMap>> source_group_map(const ModelFile& src, const TensorInfo& t) {
  const TqWeightSpec* spec = find_tq_weight(t.type);
  if (!spec || !spec->fractional()) return std::unique_ptr<TqGroupMap>();
  const std::string name = tq_group_map_tensor_name(t.name);
  const TensorInfo* m = src.find(name);
  const int64_t n_groups = t.n_cols() / spec->group;
  if (!m || m->type != TypeId::i8 || m->n_elements() != n_groups)
    return corrupt_file("{}: tensor '{}' is {} without a valid group map '{}'", t.file, t.name,
                        spec->name, name);
  auto map = tq_group_map(std::span<const uint8_t>(m->data, static_cast<size_t>(n_groups)));
  if (!map.ok()) return corrupt_file("{}: '{}': {}", t.file, name, map.status().message());
  return std::make_unique<TqGroupMap>(std::move(*map));
}

// The data-free default map of a weight for a fractional target: the half of its input groups with
// the largest energy Σ_rows ‖W[r, group]‖² (over the source's dequantized rows).
Result<TqGroupMap> default_group_map(const ModelFile& src, const TensorInfo& t, int group) {
  TQ_ASSIGN_OR_RETURN(auto src_map, source_group_map(src, t));
  const FormatTraits* sf = find_format(t.type);
  const int64_t n_cols = t.n_cols();
  TQ_ASSIGN_OR_RETURN(const size_t rb, row_bytes(t.type, n_cols));
  std::vector<double> energy(static_cast<size_t>(n_cols / group), 0.0);
  std::vector<float> row(static_cast<size_t>(n_cols));
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    row_to_float(*sf, t.data + static_cast<size_t>(r) * rb, row.data(), n_cols, src_map.get());
    for (int64_t c = 0; c < n_cols; ++c)
      if (std::isfinite(row[c])) energy[c / group] += static_cast<double>(row[c]) * row[c];
  }
  return tq_group_map_from_energy(energy);
}

}  // namespace

TypeId convert_tensor_type(const std::string& name, const std::vector<int64_t>& shape,
                           TypeId target) {
  if (shape.size() <= 1 || ends_with(name, "_norm.weight") || !ends_with(name, ".weight"))
    return TypeId::f32;
  const FormatTraits* f = find_format(target);
  if (!f || shape.back() % f->block_elems != 0) return TypeId::f16;
  return target;
}

Result<ConvertSummary> convert_to_gguf(const ModelFile& src, const std::string& out_path,
                                       const ConvertOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  TQ_ASSIGN_OR_RETURN(const GgufLayout layout, GgufLayout::of(src));
  TQ_ASSIGN_OR_RETURN(Metadata meta, layout.metadata(opt.type));

  std::vector<Job> jobs;
  if (!layout.rope_freqs().empty()) {
    Job j;
    j.decl = {GgufLayout::kRopeFreqs, TypeId::f32,
              {static_cast<int64_t>(layout.rope_freqs().size())}};
    j.values = &layout.rope_freqs();
    jobs.push_back(std::move(j));
  }
  const TqWeightSpec* frac = find_tq_weight(opt.type);
  if (frac && !frac->fractional()) frac = nullptr;
  for (const TensorInfo& t : src.tensors) {
    if (ends_with(t.name, ".tq_map")) continue;  // side data of a source weight: rebuilt if needed
    if (t.name == "token_embd.hot_ids" || t.name == "token_embd.hot.weight" ||
        t.name == "output.hot_ids" || t.name == "output.hot.weight")
      return unsupported("{}: tensor '{}': the file has hot rows (tq quantize +h), which "
                         "tq convert does not carry over; convert the source model instead",
                         t.file, t.name);
    const FormatTraits* sf = find_format(t.type);
    if (!sf)
      return unsupported("{}: tensor '{}' has type {} which has no conversion", t.file, t.name,
                         type_name(t.type));
    Job j;
    j.src = &t;
    j.decl = {t.name, convert_tensor_type(t.name, t.shape, opt.type), t.shape};
    TQ_ASSIGN_OR_RETURN(j.permute_head_dim,
                        layout.qk_permute_head_dim(t.name, t.shape.empty() ? 0 : t.shape[0]));
    jobs.push_back(std::move(j));
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    return GgufLayout::before(a.decl.name, b.decl.name);
  });
  if (frac) {  // each fractional weight is preceded by its i8 group map
    std::vector<Job> with_maps;
    for (Job& j : jobs) {
      if (j.src && j.decl.type == opt.type) {
        Job m;
        m.src = j.src;
        m.group_map = true;
        m.decl = {tq_group_map_tensor_name(j.decl.name), TypeId::i8,
                  {j.decl.shape.back() / frac->group}};
        with_maps.push_back(std::move(m));
      }
      with_maps.push_back(std::move(j));
    }
    jobs = std::move(with_maps);
  }

  std::vector<GgufTensorDecl> decls;
  for (const Job& j : jobs) decls.push_back(j.decl);
  TQ_ASSIGN_OR_RETURN(auto writer, GgufWriter::create(out_path, meta, decls));

  ConvertSummary sum;
  std::map<TypeId, int64_t> by_type;
  uint64_t total_bytes = 0;
  for (size_t b : writer->tensor_bytes()) total_bytes += b;
  Progress progress("convert", static_cast<int64_t>(total_bytes), opt.progress);
  std::vector<uint8_t> out;
  TqGroupMap dst_map;  // the current fractional weight's map (its job follows the map's)
  for (size_t ji = 0; ji < jobs.size(); ++ji) {
    const Job& j = jobs[ji];
    const GgufTensorDecl& d = j.decl;
    const size_t n_bytes = writer->tensor_bytes()[ji];
    if (j.group_map) {
      if (j.src->type == d.type) {  // already in the target format: keep its map (rows are copied)
        TQ_ASSIGN_OR_RETURN(auto m, source_group_map(src, *j.src));
        dst_map = *m;
      } else {
        TQ_ASSIGN_OR_RETURN(dst_map, default_group_map(src, *j.src, frac->group));
      }
      TQ_RETURN_IF_ERROR(writer->write(dst_map.wide.data(), n_bytes));
      progress.step(static_cast<int64_t>(n_bytes));
      continue;
    }
    int64_t n_elem = 1;
    for (int64_t x : d.shape) n_elem *= x;
    sum.n_params += n_elem;
    by_type[d.type] += n_elem;
    if (j.values) {
      TQ_RETURN_IF_ERROR(writer->write(j.values->data(), n_bytes));
      progress.step(static_cast<int64_t>(n_bytes));
      continue;
    }
    // Rows as the permutation sees them: a 1-D bias is a column of one-element rows.
    const bool column = d.shape.size() == 1 && j.permute_head_dim > 0;
    const int64_t n_cols = column ? 1 : d.shape.back();
    const int64_t n_rows = n_elem / n_cols;
    const FormatTraits* sf = find_format(j.src->type);
    const FormatTraits* df = find_format(d.type);
    if (j.src->type != d.type && !df->from_float)
      return unsupported("no reference quantizer for {} (tensor '{}')", df->name, d.name);
    TQ_ASSIGN_OR_RETURN(const size_t src_row, row_bytes(sf->id, n_cols));
    TQ_ASSIGN_OR_RETURN(const size_t dst_row, row_bytes(df->id, n_cols));
    if (src_row * n_rows != j.src->n_bytes)
      return corrupt_file("{}: tensor '{}' holds {} bytes, shape {} needs {}", j.src->file, d.name,
                          j.src->n_bytes, j.src->shape_string(), src_row * n_rows);
    TQ_ASSIGN_OR_RETURN(const std::unique_ptr<TqGroupMap> src_map, source_group_map(src, *j.src));
    const TqGroupMap* out_map = df->from_float_aux ? &dst_map : nullptr;
    // Chunks of ~4 MiB of output (whole heads when permuting) keep memory flat for any model size.
    int64_t chunk = std::max<int64_t>(1, (int64_t{4} << 20) / static_cast<int64_t>(dst_row));
    if (j.permute_head_dim > 0)
      chunk = std::max<int64_t>(1, chunk / j.permute_head_dim) * j.permute_head_dim;
    chunk = std::min(chunk, n_rows);
    out.resize(static_cast<size_t>(chunk) * dst_row);
    for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
      const int64_t nr = std::min(chunk, n_rows - r0);
      parallel_for(
          nr,
          [&](int64_t begin, int64_t end) {
            std::vector<float> row(static_cast<size_t>(n_cols));
            for (int64_t r = begin; r < end; ++r) {
              const int64_t dst_r = r0 + r;
              const int64_t src_r =
                  j.permute_head_dim ? llama_permuted_row_to_hf(dst_r, j.permute_head_dim) : dst_r;
              const uint8_t* s = j.src->data + static_cast<size_t>(src_r) * src_row;
              uint8_t* o = out.data() + static_cast<size_t>(r) * dst_row;
              if (j.src->type == d.type) {
                std::memcpy(o, s, dst_row);
              } else {
                row_to_float(*sf, s, row.data(), n_cols, src_map.get());
                if (out_map) {
                  df->from_float_aux(row.data(), o, n_cols, out_map);
                } else {
                  df->from_float(row.data(), o, n_cols);
                }
              }
            }
          },
          /*min_chunk=*/16);
      TQ_RETURN_IF_ERROR(writer->write(out.data(), static_cast<size_t>(nr) * dst_row));
      progress.step(nr * static_cast<int64_t>(dst_row));
    }
  }
  TQ_RETURN_IF_ERROR(writer->finish());
  progress.finish();
  sum.n_tensors = static_cast<int64_t>(jobs.size());
  sum.file_bytes = writer->file_bytes();
  sum.tensor_bytes = total_bytes;
  sum.params_by_type.assign(by_type.begin(), by_type.end());
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace tq
