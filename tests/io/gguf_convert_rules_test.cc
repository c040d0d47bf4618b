// The rules `tq convert` shares with llama.cpp's convert_hf_to_gguf.py: tensor types, the llama
// Q/K permutation, llama3 rope_freqs and the metadata it writes. (End-to-end on the reference
// models: gguf_convert_test.cc; against llama.cpp itself: tools/check_gguf.py.)
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file_util.h"
#include "io/gguf_convert.h"

namespace tq {
namespace {

TEST(ConvertRules, TensorTypesFollowConvertHfToGguf) {
  const std::vector<int64_t> mat = {512, 256}, vec = {256};
  EXPECT_EQ(convert_tensor_type("blk.0.attn_q.weight", mat, TypeId::q8_0), TypeId::q8_0);
  EXPECT_EQ(convert_tensor_type("token_embd.weight", mat, TypeId::bf16), TypeId::bf16);
  EXPECT_EQ(convert_tensor_type("blk.0.attn_norm.weight", vec, TypeId::q8_0), TypeId::f32);
  EXPECT_EQ(convert_tensor_type("blk.0.attn_q_norm.weight", {64}, TypeId::f16), TypeId::f32);
  EXPECT_EQ(convert_tensor_type("blk.0.attn_q.bias", vec, TypeId::f16), TypeId::f32);
  EXPECT_EQ(convert_tensor_type("rope_freqs.weight", {32}, TypeId::f16), TypeId::f32);
  // A 2-D norm-like or non-weight tensor still stays f32.
  EXPECT_EQ(convert_tensor_type("x_norm.weight", mat, TypeId::q8_0), TypeId::f32);
  EXPECT_EQ(convert_tensor_type("blk.0.x.bias", mat, TypeId::q8_0), TypeId::f32);
  // Rows that q8_0 blocks cannot tile fall back to f16.
  EXPECT_EQ(convert_tensor_type("blk.0.ffn_down.weight", {256, 100}, TypeId::q8_0), TypeId::f16);
  EXPECT_EQ(convert_tensor_type("blk.0.ffn_down.weight", {256, 100}, TypeId::f32), TypeId::f32);
}

TEST(ConvertRules, FileTypes) {
  EXPECT_EQ(*llama_file_type(TypeId::f32), 0u);
  EXPECT_EQ(*llama_file_type(TypeId::f16), 1u);
  EXPECT_EQ(*llama_file_type(TypeId::q8_0), 7u);
  EXPECT_EQ(*llama_file_type(TypeId::bf16), 32u);
  EXPECT_FALSE(llama_file_type(TypeId::q4_K).ok());
}

// numpy: w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2).reshape(w.shape), written out by index.
TEST(ConvertRules, LlamaPermutationIsConvertHfToGgufs) {
  for (int64_t hd : {2, 8, 64, 128}) {
    const int64_t n_head = 3;
    std::vector<int64_t> numpy(n_head * hd);
    for (int64_t h = 0; h < n_head; ++h)
      for (int64_t i = 0; i < hd / 2; ++i)  // new axis 1 (was axis 2)
        for (int64_t j = 0; j < 2; ++j)     // new axis 2 (was axis 1)
          numpy[h * hd + i * 2 + j] = h * hd + j * (hd / 2) + i;
    std::set<int64_t> seen;
    for (int64_t r = 0; r < n_head * hd; ++r) {
      EXPECT_EQ(llama_permuted_row_to_hf(r, hd), numpy[r]) << "hd " << hd << " row " << r;
      seen.insert(llama_permuted_row_to_hf(r, hd));
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(n_head * hd));  // a permutation
  }
  // Rows 0,1 of a head are the two halves' first rows (the pair rotated together).
  EXPECT_EQ(llama_permuted_row_to_hf(0, 64), 0);
  EXPECT_EQ(llama_permuted_row_to_hf(1, 64), 32);
  EXPECT_EQ(llama_permuted_row_to_hf(2, 64), 1);
  EXPECT_EQ(llama_permuted_row_to_hf(64 + 3, 64), 64 + 32 + 1);
}

Metadata llama31_8b_meta() {
  Metadata m;
  m.set("general.architecture", MetaValue::str("llama"));
  m.set("llama.rope.freq_base", MetaValue::f32(500000.0f));
  m.set("llama.rope.dimension_count", MetaValue::u32(128));
  m.set("llama.rope.scaling.type", MetaValue::str("llama3"));
  m.set("llama.rope.scaling.factor", MetaValue::f32(8.0f));
  m.set("llama.rope.scaling.low_freq_factor", MetaValue::f32(1.0f));
  m.set("llama.rope.scaling.high_freq_factor", MetaValue::f32(4.0f));
  m.set("llama.rope.scaling.original_context_length", MetaValue::u32(8192));
  return m;
}

TEST(ConvertRules, Llama3RopeFreqFactors) {
  auto f = llama3_rope_freq_factors(llama31_8b_meta());
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ(f->size(), 64u);
  // Wavelengths below 8192/4 = 2048 keep factor 1, above 8192/1 get 8, smooth in between.
  int n_one = 0, n_eight = 0;
  for (size_t i = 0; i < f->size(); ++i) {
    const double freq = 1.0 / std::pow(500000.0, 2.0 * i / 128.0);
    const double wavelen = 2 * M_PI / freq;
    double want = 8.0;
    if (wavelen < 2048)
      want = 1.0;
    else if (wavelen <= 8192) {
      const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
      want = 1.0 / ((1 - smooth) / 8.0 + smooth);
    }
    EXPECT_NEAR((*f)[i], want, 2e-5 * want) << i;
    n_one += (*f)[i] == 1.0f;
    n_eight += (*f)[i] == 8.0f;
    if (i) {
      EXPECT_GE((*f)[i], (*f)[i - 1]);
    }
  }
  // wavelen_i = 2 pi 500000^(i/64) is < 2048 for i <= 28 and > 8192 for i >= 35: 29 ones,
  // 6 smoothed factors (i = 29..34), 29 eights.
  EXPECT_EQ(n_one, 29);
  EXPECT_EQ(n_eight, 29);
}

// Bit-exact against convert_hf_to_gguf's torch code (tools/make_rope_freqs_fixture.py) for the
// Llama-3.1-8B and Llama-3.2-1B configurations.
TEST(ConvertRules, Llama3RopeFreqFactorsMatchConvertHfToGgufBitForBit) {
  auto text = read_file(std::string(TQ_SOURCE_DIR) + "/tests/data/gguf/rope_freqs_llama3.json");
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  const auto fixture = nlohmann::json::parse(*text);
  ASSERT_EQ(fixture.size(), 2u);
  for (const auto& [name, c] : fixture.items()) {
    SCOPED_TRACE(name);
    const auto& hp = c["config"];
    const auto& rs = hp["rope_scaling"];
    const int64_t head_dim =
        hp["hidden_size"].get<int64_t>() / hp["num_attention_heads"].get<int64_t>();
    Metadata m;
    m.set("general.architecture", MetaValue::str("llama"));
    m.set("llama.rope.freq_base", MetaValue::f32(hp["rope_theta"].get<float>()));
    m.set("llama.rope.dimension_count", MetaValue::u32(static_cast<uint32_t>(head_dim)));
    m.set("llama.rope.scaling.factor", MetaValue::f32(rs["factor"].get<float>()));
    m.set("llama.rope.scaling.low_freq_factor", MetaValue::f32(rs["low_freq_factor"].get<float>()));
    m.set("llama.rope.scaling.high_freq_factor",
          MetaValue::f32(rs["high_freq_factor"].get<float>()));
    m.set("llama.rope.scaling.original_context_length",
          MetaValue::u32(rs["original_max_position_embeddings"].get<uint32_t>()));
    auto f = llama3_rope_freq_factors(m);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    const auto& want = c["factors_f32_bits"];
    ASSERT_EQ(f->size(), want.size());
    for (size_t i = 0; i < f->size(); ++i)
      EXPECT_EQ(std::bit_cast<uint32_t>((*f)[i]), want[i].get<uint32_t>())
          << i << ": " << (*f)[i] << " vs " << std::bit_cast<float>(want[i].get<uint32_t>());
  }
}

TEST(ConvertRules, LayoutOrdersTensorsAsLlamaCpp) {
  std::vector<std::string> names = {"output.weight", "blk.10.attn_q.weight", "blk.2.ffn_up.weight",
                                    "token_embd.weight", "blk.2.attn_k.weight", "rope_freqs.weight",
                                    "output_norm.weight"};
  std::stable_sort(names.begin(), names.end(), GgufLayout::before);
  const std::vector<std::string> want = {"rope_freqs.weight",  "token_embd.weight",
                                         "blk.2.attn_k.weight", "blk.2.ffn_up.weight",
                                         "blk.10.attn_q.weight", "output.weight",
                                         "output_norm.weight"};
  EXPECT_EQ(names, want);
}

TEST(ConvertRules, MetadataDropsOurKeysAndAddsFileType) {
  ModelFile mf;
  mf.kind = SourceKind::kGguf;  // no tokenizer files to export: keys as they are
  mf.meta = llama31_8b_meta();
  mf.meta.set("general.file_type_source", MetaValue::str("huggingface"));
  auto layout = GgufLayout::of(mf);
  ASSERT_TRUE(layout.ok()) << layout.status().to_string();
  auto m = layout->metadata(TypeId::q8_0);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_FALSE(m->has("general.file_type_source"));
  for (const auto& [k, v] : m->items()) EXPECT_EQ(k.find("rope.scaling"), std::string::npos) << k;
  EXPECT_EQ(*m->get_int("general.file_type"), 7);
  EXPECT_EQ(*m->get_int("general.quantization_version"), 2);
  EXPECT_EQ(*m->get_float("llama.rope.freq_base"), 500000.0);
  // Linear scaling is a llama.cpp key and stays.
  mf.meta.set("llama.rope.scaling.type", MetaValue::str("linear"));
  layout = GgufLayout::of(mf);
  ASSERT_TRUE(layout.ok());
  m = layout->metadata(TypeId::f16);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m->get_string("llama.rope.scaling.type"), "linear");
  EXPECT_EQ(*m->get_float("llama.rope.scaling.factor"), 8.0);
}

}  // namespace
}  // namespace tq
