// ggml formats in the format table: dequantization of every type against the `gguf` Python
// package's output (tests/data/gguf/quants.gguf, written by tools/make_gguf_fixtures.py), our
// reference quantizers byte for byte against the package's, and error levels on fresh data.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/rng.h"
#include "formats/format.h"
#include "io/gguf_reader.h"
#include "../common/test_seed.h"

namespace tq {
namespace {

const std::string kQuants = std::string(TQ_SOURCE_DIR) + "/tests/data/gguf/quants.gguf";

const GgufFile& fixture() {
  static const GgufFile g = [] {
    auto r = read_gguf(kQuants);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(r).value() : GgufFile{};
  }();
  return g;
}

const TensorInfo* find(const GgufFile& g, const std::string& name) {
  for (const auto& t : g.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<float> dequantize(const TensorInfo& t) {
  const FormatTraits* f = find_format(t.type);
  EXPECT_NE(f, nullptr);
  std::vector<float> out(t.n_elements());
  const size_t rb = *row_bytes(t.type, t.n_cols());
  for (int64_t r = 0; r < t.n_rows(); ++r)
    f->to_float(t.data + r * rb, out.data() + r * t.n_cols(), t.n_cols());
  return out;
}

// Bit-exact comparison (catches a -0.0 / 0.0 or rounding-order difference too).
void expect_bits_equal(const std::vector<float>& got, const TensorInfo& want,
                       const std::string& what) {
  ASSERT_EQ(want.type, TypeId::f32);
  ASSERT_EQ(got.size() * 4, want.n_bytes);
  int mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    float w;
    std::memcpy(&w, want.data + 4 * i, 4);
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(w) && ++mismatches <= 5)
      ADD_FAILURE() << what << " element " << i << ": got " << got[i] << ", gguf package " << w;
  }
  EXPECT_EQ(mismatches, 0) << what;
}

TEST(GgmlFormats, TableHasEveryGgmlTypeWithLlamaCppSizes) {
  struct Want {
    TypeId id;
    const char* name;
    int64_t block_elems, block_bytes;
  };
  // Block sizes from ggml (GGML_QUANT_SIZES in the gguf package).
  const Want want[] = {
      {TypeId::f32, "f32", 1, 4},         {TypeId::f16, "f16", 1, 2},
      {TypeId::bf16, "bf16", 1, 2},       {TypeId::q4_0, "q4_0", 32, 18},
      {TypeId::q4_1, "q4_1", 32, 20},     {TypeId::q5_0, "q5_0", 32, 22},
      {TypeId::q5_1, "q5_1", 32, 24},     {TypeId::q8_0, "q8_0", 32, 34},
      {TypeId::q2_K, "q2_K", 256, 84},    {TypeId::q3_K, "q3_K", 256, 110},
      {TypeId::q4_K, "q4_K", 256, 144},   {TypeId::q5_K, "q5_K", 256, 176},
      {TypeId::q6_K, "q6_K", 256, 210},   {TypeId::q8_K, "q8_K", 256, 292},
      {TypeId::iq4_nl, "iq4_nl", 32, 18}, {TypeId::iq4_xs, "iq4_xs", 256, 136},
      {TypeId::i8, "i8", 1, 1},           {TypeId::i16, "i16", 1, 2},
      {TypeId::i32, "i32", 1, 4},         {TypeId::i64, "i64", 1, 8},
      {TypeId::f64, "f64", 1, 8},
  };
  for (const auto& w : want) {
    const FormatTraits* f = find_format(w.id);
    ASSERT_NE(f, nullptr) << w.name;
    EXPECT_STREQ(f->name, w.name);
    EXPECT_EQ(f->block_elems, w.block_elems) << w.name;
    EXPECT_EQ(f->block_bytes, w.block_bytes) << w.name;
    EXPECT_EQ(find_format(std::string_view(w.name)), f);
    EXPECT_NE(f->to_float, nullptr);
  }
  EXPECT_DOUBLE_EQ(bits_per_element(TypeId::q4_K), 4.5);
  EXPECT_DOUBLE_EQ(bits_per_element(TypeId::q6_K), 6.5625);
  EXPECT_DOUBLE_EQ(bits_per_element(TypeId::q8_0), 8.5);
  EXPECT_FALSE(row_bytes(TypeId::q4_K, 255).ok());
  EXPECT_EQ(*row_bytes(TypeId::q4_K, 512), 288u);
}

// Every type in the fixture: our to_float == gguf.quants.dequantize, bit for bit.
TEST(GgmlFormats, DequantizeMatchesGgufPackage) {
  const GgufFile& g = fixture();
  const char* types[] = {"f16",  "bf16", "q4_0", "q4_1", "q5_0", "q5_1",   "q8_0",
                         "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs"};
  for (const char* name : types) {
    SCOPED_TRACE(name);
    const TensorInfo* q = find(g, std::string(name) + ".q");
    const TensorInfo* deq = find(g, std::string(name) + ".deq");
    ASSERT_NE(q, nullptr);
    ASSERT_NE(deq, nullptr);
    EXPECT_EQ(q->shape, (std::vector<int64_t>{4, 256}));
    EXPECT_EQ(std::string(type_name(q->type)).size(), std::string(name).size());
    expect_bits_equal(dequantize(*q), *deq, name);
  }
}

// Our reference quantizers produce the package's bytes (both are ports of ggml's *_ref).
TEST(GgmlFormats, QuantizeMatchesGgufPackageByteForByte) {
  const GgufFile& g = fixture();
  const TensorInfo* src = find(g, "src");
  ASSERT_NE(src, nullptr);
  std::vector<float> x(src->n_elements());
  std::memcpy(x.data(), src->data, src->n_bytes);
  for (const char* name : {"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}) {
    SCOPED_TRACE(name);
    const TensorInfo* q = find(g, std::string(name) + ".q");
    ASSERT_NE(q, nullptr);
    const FormatTraits* f = find_format(q->type);
    ASSERT_NE(f->from_float, nullptr);
    std::vector<uint8_t> out(q->n_bytes);
    const size_t rb = *row_bytes(q->type, 256);
    for (int r = 0; r < 4; ++r) f->from_float(x.data() + 256 * r, out.data() + rb * r, 256);
    size_t first_diff = out.size();
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i] != q->data[i]) {
        first_diff = i;
        break;
      }
    EXPECT_EQ(first_diff, out.size()) << "first differing byte";
  }
}

// Round-trip error on fresh Gaussian rows, pinned to narrow ranges measured with the gguf
// package (relative RMSE on 256 x 1024 N(0,1) values): q4_0 0.0861, q4_1 0.0783, q5_0 0.0428,
// q5_1 0.0379, q8_0 0.00536, bf16 0.00166.
TEST(GgmlFormats, RoundTripErrorOnFreshData) {
  Rng rng(testing::test_seed());
  const int64_t n = 256 * 1024;
  std::vector<float> x(n), y(n);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  struct Case {
    TypeId id;
    double lo, hi;
  };
  const Case cases[] = {{TypeId::q4_0, 0.083, 0.089},   {TypeId::q4_1, 0.076, 0.081},
                        {TypeId::q5_0, 0.041, 0.045},   {TypeId::q5_1, 0.036, 0.040},
                        {TypeId::q8_0, 0.0051, 0.0056}, {TypeId::bf16, 0.0016, 0.0017},
                        {TypeId::q8_K, 0.0066, 0.0073}, {TypeId::f16, 0.00019, 0.00023},
                        {TypeId::f64, 0.0, 0.0}};
  for (const auto& c : cases) {
    const FormatTraits* f = find_format(c.id);
    std::vector<uint8_t> q(*row_bytes(c.id, n));
    f->from_float(x.data(), q.data(), n);
    f->to_float(q.data(), y.data(), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (x[i] - y[i]) * double(x[i] - y[i]);
      ref += x[i] * double(x[i]);
    }
    const double rel = std::sqrt(err / ref);
    std::printf("%-5s relative rmse %.5f\n", f->name, rel);
    EXPECT_GE(rel, c.lo) << f->name;
    EXPECT_LE(rel, c.hi) << f->name;
  }
}

TEST(GgmlFormats, Q8KBlockSumsAndZeroBlock) {
  std::vector<float> x(512, 0.0f);
  Rng rng(testing::test_seed());
  for (int i = 256; i < 512; ++i) x[i] = static_cast<float>(rng.normal());
  const FormatTraits* f = find_format(TypeId::q8_K);
  std::vector<uint8_t> q(2 * 292);
  f->from_float(x.data(), q.data(), 512);
  std::vector<float> y(512);
  f->to_float(q.data(), y.data(), 512);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.0f);
  const int8_t* qs = reinterpret_cast<const int8_t*>(q.data() + 292 + 4);
  int16_t bsums[16];
  std::memcpy(bsums, q.data() + 292 + 4 + 256, sizeof(bsums));
  for (int j = 0; j < 16; ++j) {
    int s = 0;
    for (int l = 0; l < 16; ++l) s += qs[16 * j + l];
    EXPECT_EQ(bsums[j], s);
  }
}

}  // namespace
}  // namespace tq

namespace tq {
namespace {

// Issue 12: byte sizes from untrusted shapes are overflow-checked (core/checked.h) in the one
// place that computes them. A 2^62-element f32 row is 2^64 bytes: it used to wrap to 0.
TEST(FormatTable, RowAndTensorBytesAreOverflowChecked) {
  EXPECT_EQ(*row_bytes(TypeId::f32, 7), 28u);
  EXPECT_EQ(*row_bytes(TypeId::q8_0, 64), 68u);
  auto wrap = row_bytes(TypeId::f32, int64_t{1} << 62);
  ASSERT_FALSE(wrap.ok());
  EXPECT_EQ(wrap.status().message(), "a f32 row of 4611686018427387904 elements needs more than 2^64 bytes");
  EXPECT_EQ(*row_bytes(TypeId::f32, (int64_t{1} << 62) - 1), (uint64_t{1} << 64) - 4);
  EXPECT_EQ(*tensor_bytes(TypeId::bf16, std::vector<int64_t>{3, 5}), 30u);
  EXPECT_FALSE(tensor_bytes(TypeId::f32, std::vector<int64_t>{int64_t{1} << 31, int64_t{1} << 31}).ok());
  EXPECT_FALSE(tensor_bytes(TypeId::i8, std::vector<int64_t>{int64_t{1} << 40, int64_t{1} << 40}).ok());
  EXPECT_FALSE(tensor_bytes(TypeId::f32, std::vector<int64_t>{}).ok());
  EXPECT_FALSE(tensor_bytes(TypeId::f32, std::vector<int64_t>{4, 0}).ok());
  EXPECT_FALSE(tensor_bytes(TypeId::q4_K, std::vector<int64_t>{2, 100}).ok());  // not whole blocks
}

}  // namespace
}  // namespace tq
