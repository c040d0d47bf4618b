// tq convert end to end on the reference models: the GGUF file and the Hugging Face folder it came
// from hold the same tensor values (after un-permuting Q/K), in the types llama.cpp's converter
// picks, with llama.cpp's metadata; converting the GGUF again does not permute twice.
#include "io/gguf_convert.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/half.h"
#include "formats/format.h"
#include "io/gguf_reader.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kRefS = std::string(TQ_SHARED_DATA) + "/models/tq-ref-s";
const std::string kRefM = std::string(TQ_SHARED_DATA) + "/models/tq-ref-m";

std::string scratch(const std::string& name) {
  return (testing::scratch_dir("convert_test") / name).string();
}

std::vector<float> to_floats(const TensorInfo& t) {
  const FormatTraits* f = find_format(t.type);
  std::vector<float> out(t.n_elements());
  const int64_t cols = t.n_cols();
  const size_t rb = *row_bytes(t.type, cols);
  for (int64_t r = 0; r < t.n_rows(); ++r)
    f->to_float(t.data + r * rb, out.data() + r * cols, cols);
  return out;
}

// The HF tensor's values in the GGUF's row order (Q/K rows permuted for arch llama).
std::vector<float> hf_in_gguf_order(const ModelFile& hf, const TensorInfo& t) {
  std::vector<float> v = to_floats(t);
  const bool q = t.name.find(".attn_q.") != std::string::npos,
             k = t.name.find(".attn_k.") != std::string::npos;
  if (!q && !k) return v;
  const int64_t heads =
      *hf.meta.get_int(k ? "llama.attention.head_count_kv" : "llama.attention.head_count");
  const int64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.n_cols() : 1;
  std::vector<float> out(v.size());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(&out[r * cols], &v[llama_permuted_row_to_hf(r, rows / heads) * cols],
                cols * sizeof(float));
  return out;
}

struct Converted {
  ModelFile hf, gguf;
};

Converted convert(const std::string& model, TypeId type, const std::string& name) {
  Converted c;
  auto hf = open_model(model);
  testing::ok_or_throw(hf.status());
  const std::string out = scratch(name);
  ConvertOptions opt;
  opt.type = type;
  opt.progress = false;
  auto sum = convert_to_gguf(*hf, out, opt);
  EXPECT_TRUE(sum.ok()) << sum.status().to_string();
  auto g = open_model(out);
  testing::ok_or_throw(g.status());
  c.hf = std::move(hf).value();
  c.gguf = std::move(g).value();
  return c;
}

void expect_same_tensors(const Converted& c, TypeId type, double q8_tolerance) {
  ASSERT_EQ(c.gguf.tensors.size(), c.hf.tensors.size());
  for (const TensorInfo& h : c.hf.tensors) {
    SCOPED_TRACE(h.name);
    const TensorInfo* g = c.gguf.find(h.name);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->shape, h.shape);
    EXPECT_EQ(g->type, convert_tensor_type(h.name, h.shape, type));
    const std::vector<float> want = hf_in_gguf_order(c.hf, h), got = to_floats(*g);
    ASSERT_EQ(got.size(), want.size());
    double max_err = 0, max_abs = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      max_err = std::max(max_err, std::fabs(double(got[i]) - want[i]));
      max_abs = std::max(max_abs, std::fabs(double(want[i])));
    }
    if (g->type == TypeId::q8_0) {
      EXPECT_GT(max_err, 0.0);  // it did quantize
      EXPECT_LE(max_err, q8_tolerance * max_abs);
    } else {
      EXPECT_EQ(max_err, 0.0);  // bf16 weights are exact in f32 and bf16
    }
  }
}

TEST(Convert, Bf16FileHoldsTheHfBitsWithQKPermuted) {
  const Converted c = convert(kRefS, TypeId::bf16, "s-bf16.gguf");
  EXPECT_EQ(c.gguf.kind, SourceKind::kGguf);
  EXPECT_TRUE(c.gguf.qk_rows_permuted());
  EXPECT_FALSE(c.hf.qk_rows_permuted());
  expect_same_tensors(c, TypeId::bf16, 0);
  // Bits, not just values: the un-permuted GGUF rows are the HF rows.
  const TensorInfo* hq = c.hf.find("blk.2.attn_k.weight");
  const TensorInfo* gq = c.gguf.find("blk.2.attn_k.weight");
  const size_t rb = 2 * hq->n_cols();
  for (int64_t r = 0; r < hq->shape[0]; ++r)
    EXPECT_EQ(std::memcmp(gq->data + r * rb, hq->data + llama_permuted_row_to_hf(r, 64) * rb, rb),
              0)
        << r;
  EXPECT_NE(std::memcmp(gq->data, hq->data, gq->n_bytes), 0);  // and it was permuted
}

TEST(Convert, MetadataIsLlamaCpps) {
  const Converted c = convert(kRefS, TypeId::f32, "s-f32.gguf");
  const Metadata& m = c.gguf.meta;
  EXPECT_EQ(*m.get_string("general.architecture"), "llama");
  EXPECT_EQ(*m.get_int("general.file_type"), 0);
  EXPECT_EQ(*m.get_int("general.quantization_version"), 2);
  EXPECT_FALSE(m.has("general.file_type_source"));
  for (const char* k : {"llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                        "llama.attention.head_count", "llama.attention.head_count_kv",
                        "llama.context_length", "llama.rope.dimension_count", "llama.vocab_size"})
    EXPECT_EQ(*m.get_int(k), *c.hf.meta.get_int(k)) << k;
  EXPECT_EQ(*m.get_float("llama.attention.layer_norm_rms_epsilon"),
            *c.hf.meta.get_float("llama.attention.layer_norm_rms_epsilon"));
  EXPECT_EQ(*m.get_float("llama.rope.freq_base"), 10000.0);
  expect_same_tensors(c, TypeId::f32, 0);
}

TEST(Convert, Q8FileOfShardedModelIsWithinQ8Error) {
  const Converted c = convert(kRefM, TypeId::q8_0, "m-q8_0.gguf");
  // q = round(x / d) with d = amax(block)/127, stored scale d16 = f16(d), |d16 - d| <= 2^-11 d:
  // |x - q d16| <= d/2 + 127 |d - d16| <= (0.5 + 127 * 2^-11) amax / 127.
  expect_same_tensors(c, TypeId::q8_0, (0.5 + 127.0 / 2048) / 127);
  // Every q8_0 tensor is exactly our reference quantizer applied to the permuted HF rows.
  const TensorInfo* h = c.hf.find("blk.5.attn_q.weight");
  const TensorInfo* g = c.gguf.find("blk.5.attn_q.weight");
  std::vector<float> want = hf_in_gguf_order(c.hf, *h);
  std::vector<uint8_t> q(g->n_bytes);
  find_format(TypeId::q8_0)->from_float(want.data(), q.data(), static_cast<int64_t>(want.size()));
  EXPECT_EQ(std::memcmp(q.data(), g->data, q.size()), 0);
}

TEST(Convert, GgufToGgufKeepsThePermutation) {
  const Converted c = convert(kRefS, TypeId::bf16, "s-bf16-again.gguf");
  const std::string out = scratch("s-f32-from-gguf.gguf");
  ConvertOptions opt;
  opt.type = TypeId::f32;
  opt.progress = false;
  ASSERT_TRUE(convert_to_gguf(c.gguf, out, opt).ok());
  auto again = open_model(out);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  for (const TensorInfo& t : c.gguf.tensors) {
    const TensorInfo* a = again->find(t.name);
    ASSERT_NE(a, nullptr) << t.name;
    EXPECT_EQ(to_floats(*a), to_floats(t)) << t.name;
  }
}

TEST(Convert, Llama3ScalingBecomesRopeFreqsTensor) {
  const fs::path d = testing::scratch_dir("convert_test") / "llama3";
  fs::create_directories(d);
  fs::copy_file(kRefS + "/model.safetensors", d / "model.safetensors");
  fs::copy_file(kRefS + "/tokenizer.json", d / "tokenizer.json");
  std::ofstream(d / "config.json") << R"({"architectures":["LlamaForCausalLM"],"hidden_size":256,
    "num_hidden_layers":6,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":768,
    "vocab_size":8192,"rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,
    "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})";
  const Converted c = convert(d.string(), TypeId::f16, "llama3.gguf");
  const TensorInfo* rf = c.gguf.find("rope_freqs.weight");
  ASSERT_NE(rf, nullptr);
  EXPECT_EQ(rf->type, TypeId::f32);
  EXPECT_EQ(rf->shape, (std::vector<int64_t>{32}));
  EXPECT_EQ(to_floats(*rf), *llama3_rope_freq_factors(c.hf.meta));
  EXPECT_FALSE(c.gguf.meta.has("llama.rope.scaling.type"));
  EXPECT_FALSE(c.gguf.meta.has("llama.rope.scaling.factor"));
  EXPECT_EQ(c.gguf.tensors.front().name, "rope_freqs.weight");
}

TEST(Convert, RefusesUnofferedTypesAndLeavesNoFile) {
  auto hf = open_model(kRefS);
  ASSERT_TRUE(hf.ok());
  const std::string out = scratch("q4k.gguf");
  ConvertOptions opt;
  opt.type = TypeId::q4_K;
  opt.progress = false;
  auto r = convert_to_gguf(*hf, out, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("f32, f16, bf16 or q8_0"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace tq
