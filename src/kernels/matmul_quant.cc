// Matmul table entries for tq<b>g<G>, q8 and rtn4 (kernels/matmul_quant.h): the row layout of each
// type, the thread policy, and dispatch to the per-target kernels (kernels/cpu/matmul_quant.cc).
#include "kernels/matmul_quant.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "formats/format.h"
#include "formats/quant_baselines.h"
#include "formats/tq_weight.h"
#include "kernels/matmul_families.h"

namespace tq {

// Per-target entry (kernels/cpu/matmul_quant.cc): prepares the activations, then calls
// rows(begin, end) over [0, n_rows) through parallel_for with `min_rows` rows per thread at least.
void quant_matmul_dispatch(const QuantLayout& L, const WeightView& w, const float* x,
                           int64_t n_tokens, float* y, bool unit_scales, int64_t min_rows);

bool is_quant_matmul_type(TypeId type) {
  return find_tq_weight(type) != nullptr || type == kTypeQ8 || type == kTypeRtn4;
}

QuantLayout quant_layout(const WeightView& w) {
  QuantLayout L;
  if (const TqWeightSpec* s = find_tq_weight(w.type)) {
    TQ_CHECK(!s->fractional(), "quant_layout: {} needs its group map", s->name);
    L.kind = QuantKind::kTq;
    L.group = s->group;
    L.rotate = true;
    L.n_segments = 1;
    L.seg[0] = {s->bits, w.n_cols / s->group, 0, tq_group_bytes(s->bits, s->group),
                tq_codebook_unit(s->bits, s->group), tq_codebook_int(s->bits, s->group).data()};
  } else if (w.type == kTypeRtn4) {
    L.kind = QuantKind::kRtn4;
    L.group = kRtn4Group;
    L.n_segments = 1;
    L.seg[0] = {4, w.n_cols / kRtn4Group, 0, sizeof(Rtn4Block), 1.0f, nullptr};
  } else if (w.type == kTypeQ8) {
    L.kind = QuantKind::kQ8;
    L.group = kQ8BlockElems;
    L.n_segments = 1;
    L.row_header_bytes = 4;
    L.seg[0] = {8, w.n_cols / kQ8BlockElems, 4, kQ8BlockElems, 1.0f, nullptr};
  } else {
    TQ_CHECK(false, "quant_layout: type {} is not a quantized type of ours", type_name(w.type));
  }
  TQ_CHECK(w.n_cols > 0 && w.n_cols % L.group == 0, "{}: {} columns is not a multiple of {}",
           type_name(w.type), w.n_cols, L.group);
  L.n_groups = w.n_cols / L.group;
  TQ_CHECK(w.row_bytes == *row_bytes(w.type, w.n_cols), "{}: row of {} bytes, expected {}",
           type_name(w.type), w.row_bytes, *row_bytes(w.type, w.n_cols));
  return L;
}

namespace {

// Rows per thread at least: >= 1 MiB of weights per thread for decode, >= 2M multiply-adds for
// prefill (waking a sleeping worker costs tens of microseconds; docs/RUNTIME.md).
int64_t min_rows_per_thread(const WeightView& w, int64_t n_tokens) {
  if (n_tokens == 1)
    return std::max<int64_t>(1, ((int64_t{1} << 20) + static_cast<int64_t>(w.row_bytes) - 1) /
                                    static_cast<int64_t>(w.row_bytes));
  const int64_t macs_per_row = w.n_cols * n_tokens;
  return std::max<int64_t>(1, ((int64_t{2} << 20) + macs_per_row - 1) / macs_per_row);
}

}  // namespace

void matmul_quant_mode(const WeightView& w, const float* x, int64_t n_tokens, float* y,
                       bool unit_scales) {
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  const QuantLayout L = quant_layout(w);
  quant_matmul_dispatch(L, w, x, n_tokens, y, unit_scales, min_rows_per_thread(w, n_tokens));
}

void matmul_quant(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  matmul_quant_mode(w, x, n_tokens, y, false);
}

namespace {

std::vector<MatmulKernel> build() {
  std::vector<MatmulKernel> k;
  for (const auto& s : tq_weight_specs())
    if (!s.fractional()) k.push_back({s.id, "tq (avx512-vnni / highway)", matmul_quant});
  k.push_back({kTypeQ8, "q8 (avx512-vnni / highway)", matmul_quant});
  k.push_back({kTypeRtn4, "rtn4 (avx512-vnni / highway)", matmul_quant});
  return k;
}

}  // namespace

std::span<const MatmulKernel> quant_matmul_kernels() {
  static const std::vector<MatmulKernel> k = build();
  return k;
}

}  // namespace tq
