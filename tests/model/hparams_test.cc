#include "model/hparams.h"

#include <gtest/gtest.h>

namespace tq {
namespace {

// A metadata-only ModelFile (a token_embd tensor header for the vocabulary).
ModelFile fake_model(const std::string& arch) {
  ModelFile mf;
  mf.path = "fake.gguf";
  mf.kind = SourceKind::kGguf;
  const std::string a = arch + ".";
  mf.meta.set("general.architecture", MetaValue::str(arch));
  mf.meta.set(a + "embedding_length", MetaValue::u32(2048));
  mf.meta.set(a + "block_count", MetaValue::u32(16));
  mf.meta.set(a + "attention.head_count", MetaValue::u32(32));
  mf.meta.set(a + "attention.head_count_kv", MetaValue::u32(8));
  mf.meta.set(a + "feed_forward_length", MetaValue::u32(8192));
  mf.meta.set(a + "rope.freq_base", MetaValue::f32(500000.0f));
  TensorInfo t;
  t.name = "token_embd.weight";
  t.type = TypeId::bf16;
  t.shape = {128256, 2048};
  mf.tensors.push_back(t);
  return mf;
}

TEST(HParams, DefaultsFromGgufStyleKeys) {
  auto hp = read_hparams(fake_model("llama"));
  ASSERT_TRUE(hp.ok()) << hp.status().to_string();
  EXPECT_EQ(hp->head_dim, 64);     // embedding_length / head_count
  EXPECT_EQ(hp->n_vocab, 128256);  // from token_embd rows
  EXPECT_EQ(hp->rope.n_rot, 64);
  EXPECT_EQ(hp->n_gqa(), 4);
  EXPECT_EQ(hp->rope.scaling, RopeScaling::kNone);
}

TEST(HParams, RejectsBadValues) {
  ModelFile mf = fake_model("llama");
  mf.meta.set("llama.attention.head_count_kv", MetaValue::u32(5));
  auto hp = read_hparams(mf);
  ASSERT_FALSE(hp.ok());
  EXPECT_NE(hp.status().message().find("fake.gguf"), std::string::npos);
  EXPECT_NE(hp.status().message().find("head_count_kv"), std::string::npos)
      << hp.status().message();

  auto unknown = read_hparams(fake_model("gpt2"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'gpt2' is not supported"), std::string::npos);

  ModelFile yarn = fake_model("qwen2");
  yarn.meta.set("qwen2.rope.scaling.type", MetaValue::str("yarn"));
  EXPECT_FALSE(read_hparams(yarn).ok());

  ModelFile missing = fake_model("llama");
  missing.meta.erase("llama.block_count");
  auto m = read_hparams(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("llama.block_count"), std::string::npos);
}

TEST(HParams, Llama3RopeScalingMatchesTransformersFormula) {
  ModelFile mf = fake_model("llama");
  mf.meta.set("llama.rope.scaling.type", MetaValue::str("llama3"));
  mf.meta.set("llama.rope.scaling.factor", MetaValue::f32(32.0f));
  mf.meta.set("llama.rope.scaling.low_freq_factor", MetaValue::f32(1.0f));
  mf.meta.set("llama.rope.scaling.high_freq_factor", MetaValue::f32(4.0f));
  mf.meta.set("llama.rope.scaling.original_context_length", MetaValue::u32(8192));
  auto hp = read_hparams(mf);
  ASSERT_TRUE(hp.ok()) << hp.status().to_string();
  std::vector<double> f = rope_inv_freq(hp->rope, {});
  ASSERT_EQ(f.size(), 32u);
  // Values from transformers' _compute_llama3_parameters (float64).
  EXPECT_DOUBLE_EQ(f[0], 1.0);
  EXPECT_NEAR(f[10], 0.016560440080994446, 1e-15);  // high frequency: unchanged
  EXPECT_NEAR(f[15], 0.001290547928209264, 1e-15);  // smooth band
  EXPECT_NEAR(f[16], 0.00042955679655936815, 1e-15);
  EXPECT_NEAR(f[20], 8.570255489881478e-06, 1e-18);  // low frequency: divided by 32
  EXPECT_NEAR(f[31], 9.418306725434911e-08, 1e-20);

  // A GGUF rope_freqs tensor takes the place of the keys: inv_freq / factor.
  std::vector<float> factors(32, 2.0f);
  std::vector<double> g = rope_inv_freq(hp->rope, factors);
  EXPECT_NEAR(g[20], 0.0002742481756762073 / 2.0, 1e-17);

  RopeParams lin = hp->rope;
  lin.scaling = RopeScaling::kLinear;
  lin.factor = 4.0;
  EXPECT_NEAR(rope_inv_freq(lin, {})[10], 0.016560440080994446 / 4.0, 1e-15);
}

}  // namespace
}  // namespace tq
