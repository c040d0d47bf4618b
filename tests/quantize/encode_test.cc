// The pipeline's tensors encode into exactly the bytes the formats define: data-free tq and rtn4
// equal the format table's own from_float, every encoding decodes (to_float) to the pipeline's
// dequantized values, and the Q/K row permutation moves whole rows.
#include <gtest/gtest.h>

#include <cstring>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "formats/format.h"
#include "formats/tq_weight.h"
#include "io/gguf_convert.h"
#include "quantize/encode.h"

namespace tq {
namespace {

std::vector<float> random_rows(Rng& rng, int64_t rows, int64_t cols) {
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = static_cast<float>(0.04 * rng.normal());
  for (int64_t c = 0; c < cols; c += 29) w[c] *= 8;  // an outlier column
  return w;
}

std::vector<uint8_t> from_float_bytes(TypeId type, const std::vector<float>& w, int64_t rows, int64_t cols) {
  const FormatTraits* f = find_format(type);
  const size_t rb = *row_bytes(type, cols);
  std::vector<uint8_t> out(rb * rows);
  for (int64_t r = 0; r < rows; ++r) f->from_float(w.data() + r * cols, out.data() + r * rb, cols);
  return out;
}

void expect_decodes_to(const QuantizedTensor& q, const std::vector<uint8_t>& bytes) {
  const FormatTraits* f = find_format(q.type);
  const size_t rb = *row_bytes(q.type, q.n_cols);
  std::vector<float> deq(static_cast<size_t>(q.n_rows * q.n_cols)), row(static_cast<size_t>(q.n_cols));
  q.dequantize(deq.data());
  for (int64_t r = 0; r < q.n_rows; ++r) {
    f->to_float(bytes.data() + r * rb, row.data(), q.n_cols);
    for (int64_t c = 0; c < q.n_cols; ++c)
      ASSERT_EQ(row[c], deq[r * q.n_cols + c]) << type_name(q.type) << " row " << r << " col " << c;
  }
}

TEST(Encode, TqDataFreeEqualsFormatQuantizer) {
  Rng rng(testing::test_seed("encode tq"));
  const int64_t rows = 9, cols = 384;
  const auto w = random_rows(rng, rows, cols);
  for (int bits : {2, 3, 4, 5, 6, 8})
    for (int group : {32, 64, 128}) {
      QuantizedTensor q;
      q.name = "t";
      q.type = tq_codec(bits, group).type;
      q.n_rows = rows;
      q.n_cols = cols;
      q.tq = tq_quantize_datafree(w.data(), rows, cols, bits, group);
      auto bytes = q.encode();
      ASSERT_TRUE(bytes.ok());
      EXPECT_EQ(*bytes, from_float_bytes(q.type, w, rows, cols)) << type_name(q.type);
      expect_decodes_to(q, *bytes);
    }
}

// Fractional tq<b>.5: the pipeline's tensor (with its own group map) encodes into the bytes the
// format's from_float_aux writes with that map, wide groups stored first, and decodes back exactly;
// the map follows the H-weighted energy, and GPTQ-chosen codes decode too.
TEST(Encode, TqFractionalEqualsFormatQuantizer) {
  Rng rng(testing::test_seed("encode tq fractional"));
  const int64_t rows = 7;
  for (int bits : {2, 3, 4, 5})
    for (int group : {32, 64, 128}) {
      const int64_t cols = group * 6;
      const auto w = random_rows(rng, rows, cols);
      std::vector<double> H(static_cast<size_t>(cols * cols), 0.0);
      for (int64_t i = 0; i < cols; ++i) H[i * cols + i] = 0.5 + rng.uniform() * ((i / group) % 2 == 1 ? 50 : 1);
      const auto wide = tq_choose_wide_groups(w.data(), rows, cols, group, &H);
      for (int64_t g = 0; g < cols / group; ++g)
        EXPECT_EQ(wide[g], (g % 2 == 1) ? 1 : 0) << "group " << g << " of tq" << bits << ".5g" << group;
      QuantizedTensor q;
      q.name = "t";
      q.type = find_tq_weight_fractional(bits, group)->id;
      q.n_rows = rows;
      q.n_cols = cols;
      q.tq = tq_quantize_datafree(w.data(), rows, cols, bits, group, ScaleSearch::kLeastSquares, wide);
      auto bytes = q.encode();
      ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
      const FormatTraits* f = find_format(q.type);
      const TqGroupMap map = *tq_group_map(wide);
      const size_t rb = *row_bytes(q.type, cols);
      std::vector<uint8_t> ref(rb * rows);
      for (int64_t r = 0; r < rows; ++r) f->from_float_aux(w.data() + r * cols, ref.data() + r * rb, cols, &map);
      EXPECT_EQ(*bytes, ref) << type_name(q.type);
      std::vector<float> deq(static_cast<size_t>(rows * cols)), row(static_cast<size_t>(cols));
      q.dequantize(deq.data());
      for (int64_t r = 0; r < rows; ++r) {
        f->to_float_aux(bytes->data() + r * rb, row.data(), cols, &map);
        for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(row[c], deq[r * cols + c]) << type_name(q.type);
      }
      auto g = tq_quantize_gptq(w.data(), rows, cols, H, bits, group, {}, ScaleSearch::kLeastSquares, wide);
      ASSERT_TRUE(g.ok());
      q.tq = *g;
      auto gb = q.encode();
      ASSERT_TRUE(gb.ok());
      q.dequantize(deq.data());
      for (int64_t r = 0; r < rows; ++r) {
        f->to_float_aux(gb->data() + r * rb, row.data(), cols, &map);
        for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(row[c], deq[r * cols + c]) << type_name(q.type);
      }
    }
}

TEST(Encode, Int4EqualsRtn4AndGptq4Decodes) {
  Rng rng(testing::test_seed("encode int4"));
  const int64_t rows = 5, cols = 256;
  const auto w = random_rows(rng, rows, cols);
  const TypeId rtn4 = find_format("rtn4")->id;
  QuantizedTensor q;
  q.name = "t";
  q.type = rtn4;
  q.n_rows = rows;
  q.n_cols = cols;
  q.int4 = rtn4_quantize(w.data(), rows, cols);
  auto bytes = q.encode();
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, from_float_bytes(rtn4, w, rows, cols));
  expect_decodes_to(q, *bytes);
  // GPTQ-chosen codes in the same blocks.
  std::vector<double> H(static_cast<size_t>(cols * cols), 0.0);
  for (int64_t i = 0; i < cols; ++i) H[i * cols + i] = 1.0 + (i % 7);
  auto g = gptq4_quantize(w.data(), rows, cols, H);
  ASSERT_TRUE(g.ok());
  q.int4 = *g;
  auto gb = q.encode();
  ASSERT_TRUE(gb.ok());
  expect_decodes_to(q, *gb);
}

TEST(Encode, RowPermutation) {
  Rng rng(testing::test_seed("encode permute"));
  const int64_t head_dim = 8, rows = 3 * head_dim, cols = 128;
  const auto w = random_rows(rng, rows, cols);
  QuantizedTensor q;
  q.name = "blk.0.attn_q.weight";
  q.type = tq_codec(4, 128).type;
  q.n_rows = rows;
  q.n_cols = cols;
  q.tq = tq_quantize_datafree(w.data(), rows, cols, 4, 128);
  auto plain = q.encode(), perm = q.encode(head_dim);
  ASSERT_TRUE(plain.ok() && perm.ok());
  const size_t rb = *row_bytes(q.type, cols);
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_EQ(0, std::memcmp(perm->data() + r * rb, plain->data() + llama_permuted_row_to_hf(r, head_dim) * rb, rb));
}

}  // namespace
}  // namespace tq
