#include "quantize/encode.h"

#include <cstring>

#include "core/check.h"
#include "core/parallel.h"
#include "formats/format.h"
#include "io/gguf_layout.h"
#include "formats/quant_baselines.h"
#include "formats/tq_weight.h"

namespace tq {

void QuantizedTensor::add_hot_rows(const float* w, std::vector<int32_t> ids, int bits, int group) {
  hot.reset();
  hot_ids.clear();
  std::vector<float> wh(static_cast<size_t>(n_rows * n_cols));
  dequantize_stored(wh.data());
  const auto K = static_cast<int64_t>(ids.size());
  std::vector<float> r(static_cast<size_t>(K * n_cols));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < n_cols; ++c)
      r[k * n_cols + c] = w[ids[k] * n_cols + c] - wh[ids[k] * n_cols + c];
  hot = tq_quantize_datafree(r.data(), K, n_cols, bits, group);
  hot_ids = std::move(ids);
}

void QuantizedTensor::dequantize(float* out) const {
  dequantize_stored(out);
  if (!hot) return;
  std::vector<float> r(static_cast<size_t>(hot->n_rows * n_cols));
  tq::dequantize(*hot, r.data());
  for (size_t k = 0; k < hot_ids.size(); ++k)
    for (int64_t c = 0; c < n_cols; ++c) out[hot_ids[k] * n_cols + c] += r[k * n_cols + c];
}

void QuantizedTensor::dequantize_stored(float* out) const {
  if (tq) {
    tq::dequantize(*tq, out);
  } else if (int4) {
    tq::dequantize(*int4, out);
  } else {
    const FormatTraits* f = find_format(type);
    TQ_CHECK(f, "unknown type");
    const size_t rb = *row_bytes(type, n_cols);
    parallel_for(n_rows, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) f->to_float(bytes.data() + r * rb, out + r * n_cols, n_cols);
    }, 16);
  }
}

Result<std::vector<uint8_t>> QuantizedTensor::encode(int64_t permute_head_dim) const {
  TQ_ASSIGN_OR_RETURN(size_t rb, row_bytes(type, n_cols));
  std::vector<uint8_t> out(rb * static_cast<size_t>(n_rows));
  auto src_row = [&](int64_t r) {
    return permute_head_dim > 0 ? llama_permuted_row_to_hf(r, permute_head_dim) : r;
  };
  if (tq) {
    const TqTensor& t = *tq;
    const int64_t ng = t.n_groups();
    // Block slots of a row: a fractional tensor stores its wide groups first (formats/tq_weight.h).
    std::vector<int64_t> slot_group(static_cast<size_t>(ng)), slot_offset(static_cast<size_t>(ng));
    int64_t bytes = 0, j = 0;
    for (int pass = 0; pass < (t.fractional() ? 2 : 1); ++pass)
      for (int64_t g = 0; g < ng; ++g)
        if (!t.fractional() || (t.wide[g] != 0) == (pass == 0)) {
          slot_group[j] = g;
          slot_offset[j++] = bytes;
          bytes += tq_group_bytes(t.group_bits(g), t.group);
        }
    if (static_cast<size_t>(bytes) != rb)
      return invalid_argument("{}: {} rows are {} bytes, tq blocks give {}", name,
                              type_name(type), rb, bytes);
    parallel_for(n_rows, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t s = src_row(r);
        for (int64_t k = 0; k < ng; ++k) {
          const int64_t g = slot_group[k];
          tq_pack_group(t.codes.data() + s * n_cols + g * t.group, t.scales[s * ng + g],
                        t.group_bits(g), t.group, out.data() + r * rb + slot_offset[k]);
        }
      }
    }, 16);
    return out;
  }
  if (int4) {
    const Int4Tensor& t = *int4;
    const int64_t G = Int4Tensor::kGroup, ng = n_cols / G;
    if (type != kTypeRtn4 || static_cast<size_t>(ng) * sizeof(Rtn4Block) != rb)
      return invalid_argument("{}: int4 codes need the rtn4 type, not {}", name, type_name(type));
    parallel_for(n_rows, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t s = src_row(r);
        for (int64_t g = 0; g < ng; ++g)
          rtn4_pack_group(t.q.data() + s * n_cols + g * G, t.scale[s * ng + g], t.offset[s * ng + g],
                          out.data() + r * rb + g * sizeof(Rtn4Block));
      }
    }, 16);
    return out;
  }
  if (bytes.size() != out.size())
    return invalid_argument("{}: {} bytes held, {} expected", name, bytes.size(), out.size());
  for (int64_t r = 0; r < n_rows; ++r) std::memcpy(out.data() + r * rb, bytes.data() + src_row(r) * rb, rb);
  return out;
}

Result<QuantizedTensor> quantize_with_format(const std::string& name, TypeId type, const float* w,
                                             int64_t n_rows, int64_t n_cols) {
  const FormatTraits* f = find_format(type);
  if (!f) return unsupported("{}: unknown type id {}", name, static_cast<uint32_t>(type));
  if (!f->from_float) return unsupported("{}: format {} has no quantizer", name, f->name);
  TQ_ASSIGN_OR_RETURN(size_t rb, row_bytes(type, n_cols));
  QuantizedTensor q;
  q.name = name;
  q.type = type;
  q.n_rows = n_rows;
  q.n_cols = n_cols;
  q.bytes.resize(rb * static_cast<size_t>(n_rows));
  parallel_for(n_rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f->from_float(w + r * n_cols, q.bytes.data() + r * rb, n_cols);
  }, 16);
  return q;
}

}  // namespace tq
