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

// Several weights, same x: one parallel region over 4-row tiles of all of them, with at least
// `min_tiles` tiles per thread.
void quant_matmul_multi_dispatch(const QuantLayout* Ls, const WeightView* const* ws, int64_t n,
                                 const float* x, int64_t n_tokens, float* const* ys,
                                 int64_t min_tiles);

bool is_quant_matmul_type(TypeId type) {
  return find_tq_weight(type) != nullptr || type == kTypeQ8 || type == kTypeRtn4;
}

QuantLayout quant_layout(const WeightView& w) {
  QuantLayout L;
  if (const TqWeightSpec* s = find_tq_weight(w.type)) {
    L.kind = QuantKind::kTq;
    L.group = s->group;
    L.rotate = true;
    const int G = s->group;
    const int64_t n_groups = w.n_cols / G;
    if (s->fractional()) {
      TQ_CHECK(w.aux != nullptr, "{} weight without its group map (WeightView::aux)", s->name);
      const auto* map = static_cast<const TqGroupMap*>(w.aux);
      TQ_CHECK(static_cast<int64_t>(map->slot_group.size()) == n_groups,
               "{}: group map of {} groups for {} columns", s->name, map->slot_group.size(),
               w.n_cols);
      const int64_t n_wide = map->n_wide();
      L.n_segments = 2;
      L.seg[0] = {s->bits_hi, n_wide, 0, tq_group_bytes(s->bits_hi, G),
                  tq_codebook_unit(s->bits_hi, G), tq_codebook_int(s->bits_hi, G).data()};
      L.seg[1] = {s->bits, n_groups - n_wide, n_wide * tq_group_bytes(s->bits_hi, G),
                  tq_group_bytes(s->bits, G), tq_codebook_unit(s->bits, G),
                  tq_codebook_int(s->bits, G).data()};
      L.slot_group = map->slot_group.data();
    } else {
      L.n_segments = 1;
      L.seg[0] = {s->bits, n_groups, 0, tq_group_bytes(s->bits, G), tq_codebook_unit(s->bits, G),
                  tq_codebook_int(s->bits, G).data()};
    }
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

// >= 1 MiB of weights per thread for decode, >= 2M multiply-adds for prefill (waking a sleeping
// worker costs tens of microseconds; docs/RUNTIME.md).
int64_t quant_min_rows_per_thread(const WeightView& w, int64_t n_tokens) {
  if (n_tokens == 1)
    return std::max<int64_t>(1, ((int64_t{1} << 20) + static_cast<int64_t>(w.row_bytes) - 1) /
                                    static_cast<int64_t>(w.row_bytes));
  const int64_t macs_per_row = w.n_cols * n_tokens;
  return std::max<int64_t>(1, ((int64_t{2} << 20) + macs_per_row - 1) / macs_per_row);
}

void matmul_quant_mode(const WeightView& w, const float* x, int64_t n_tokens, float* y,
                       bool unit_scales) {
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  const QuantLayout L = quant_layout(w);
  quant_matmul_dispatch(L, w, x, n_tokens, y, unit_scales, quant_min_rows_per_thread(w, n_tokens));
}

void matmul_quant(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  matmul_quant_mode(w, x, n_tokens, y, false);
}

void matmul_quant_multi(std::span<const WeightView* const> ws, const float* x, int64_t n_tokens,
                        std::span<float* const> ys) {
  TQ_CHECK(ws.size() == ys.size(), "matmul_quant_multi: {} weights, {} outputs", ws.size(),
           ys.size());
  if (n_tokens <= 0 || ws.empty()) return;
  std::vector<QuantLayout> layouts;
  int64_t tiles = 0, bytes = 0, macs = 0;
  for (const WeightView* w : ws) {
    TQ_CHECK(w->n_cols == ws[0]->n_cols, "matmul_quant_multi: {} vs {} columns", w->n_cols,
             ws[0]->n_cols);
    layouts.push_back(quant_layout(*w));
    tiles += (w->n_rows + 3) / 4;
    bytes += static_cast<int64_t>(w->row_bytes) * w->n_rows;
    macs += w->n_rows * w->n_cols * n_tokens;
  }
  if (tiles == 0) return;
  // The thread policy of quant_min_rows_per_thread, over the weights together.
  const int64_t want = n_tokens == 1 ? bytes : macs;
  const int64_t per_thread = n_tokens == 1 ? (int64_t{1} << 20) : (int64_t{2} << 20);
  const int64_t min_tiles = std::max<int64_t>(
      1, (per_thread * tiles + std::max<int64_t>(1, want) - 1) / std::max<int64_t>(1, want));
  quant_matmul_multi_dispatch(layouts.data(), ws.data(), static_cast<int64_t>(ws.size()), x,
                              n_tokens, ys.data(), min_tiles);
}

namespace {

std::vector<MatmulKernel> build() {
  std::vector<MatmulKernel> k;
  for (const auto& s : tq_weight_specs())
    k.push_back({s.id, "tq (avx512-vnni / avx2 / highway)", matmul_quant});
  k.push_back({kTypeQ8, "q8 (avx512-vnni / avx2 / highway)", matmul_quant});
  k.push_back({kTypeRtn4, "rtn4 (avx512-vnni / avx2 / highway)", matmul_quant});
  return k;
}

}  // namespace

std::span<const MatmulKernel> quant_matmul_kernels() {
  static const std::vector<MatmulKernel> k = build();
  return k;
}

}  // namespace tq
