// Weight binding on the reference models: shape checks, Q/K permutation (GGUF convention) and
// session errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "runtime/session.h"
#include "../common/scratch_dir.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kRefS = std::string(TQ_SHARED_DATA) + "/models/tq-ref-s";

// A copy of tq-ref-s whose config.json is edited by `edit` (weights symlinked).
std::string edited_copy(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const fs::path d = testing::scratch_dir("model_test") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  fs::create_symlink(fs::path(kRefS) / "model.safetensors", d / "model.safetensors");
  auto j = nlohmann::json::parse(*read_file(kRefS + "/config.json"));
  edit(j);
  std::ofstream(d / "config.json") << j.dump();
  return d.string();
}

TEST(Model, BindsTqRefS) {
  auto m = load_model(kRefS);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const Model& model = **m;
  EXPECT_EQ(model.hp.n_layer, 6);
  EXPECT_EQ(model.hp.n_head_kv, 2);
  EXPECT_TRUE(model.tied_output);
  EXPECT_FALSE(model.qk_interleaved);
  EXPECT_EQ(model.output.data, model.tok_embd.data);
  // bf16: 6 layers * (4 * 256*256/... ) — every matrix once plus the tied output head.
  const size_t layer = 2 * (256 * 256 + 128 * 256 * 2 + 256 * 256 + 3 * 768 * 256);
  EXPECT_EQ(model.weight_bytes_per_token(), 6 * layer + 2 * 8192 * 256 + 2 * 256);
}

TEST(Model, ShapeDisagreeingWithConfigNamesFileAndTensor) {
  auto ff = load_model(edited_copy("ff", [](auto& j) { j["intermediate_size"] = 700; }));
  ASSERT_FALSE(ff.ok());
  const std::string& msg = ff.status().message();
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'blk.0.ffn_gate.weight' has shape [768, 256], expected [700, 256]"),
            std::string::npos)
      << msg;

  auto kv = load_model(edited_copy("kv", [](auto& j) { j["num_key_value_heads"] = 4; }));
  ASSERT_FALSE(kv.ok());
  EXPECT_NE(kv.status().message().find("blk.0.attn_k.weight"), std::string::npos)
      << kv.status().message();

  auto vocab = load_model(edited_copy("vocab", [](auto& j) { j["vocab_size"] = 8000; }));
  ASSERT_FALSE(vocab.ok());
  EXPECT_NE(vocab.status().message().find("token_embd.weight"), std::string::npos)
      << vocab.status().message();

  auto arch = load_model(edited_copy("arch", [](auto& j) {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
  }));
  ASSERT_FALSE(arch.ok());
  EXPECT_NE(arch.status().message().find("unknown architecture"), std::string::npos)
      << arch.status().message();
}

// The GGUF convention for arch llama (convert_hf_to_gguf's permute): within each head, row 2i + s
// holds HF row s * d/2 + i. A model whose Q/K rows are permuted that way must give bit-identical
// logits, because the runtime undoes the permutation on the projected vectors.
TEST(Model, PermutedQkRowsGiveIdenticalLogits) {
  auto hf = load_model(kRefS);
  ASSERT_TRUE(hf.ok());
  auto mf = open_model(kRefS);
  ASSERT_TRUE(mf.ok());
  std::vector<std::vector<uint8_t>> owned;
  const int64_t d = (*hf)->hp.head_dim;
  for (auto& t : mf->tensors) {
    if (t.name.find("attn_q.weight") == std::string::npos &&
        t.name.find("attn_k.weight") == std::string::npos)
      continue;
    const size_t rb = t.n_bytes / t.shape[0];
    std::vector<uint8_t> p(t.n_bytes);
    for (int64_t h = 0; h < t.shape[0] / d; ++h)
      for (int64_t i = 0; i < d / 2; ++i)
        for (int64_t s = 0; s < 2; ++s)
          std::memcpy(&p[(h * d + 2 * i + s) * rb], t.data + (h * d + s * d / 2 + i) * rb, rb);
    t.data = p.data();
    owned.push_back(std::move(p));
  }
  mf->kind = SourceKind::kGguf;
  auto gg = bind_model(std::move(*mf));
  ASSERT_TRUE(gg.ok()) << gg.status().to_string();
  ASSERT_TRUE((*gg)->qk_interleaved);
  const std::vector<int32_t> ids = {47, 1405, 700, 259, 622, 12, 515, 327, 259, 655};
  std::vector<std::vector<float>> logits;
  for (const Model* m : {hf->get(), gg->get()}) {
    auto s = Session::create(*m, {64, 256, {}});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->eval(ids, LogitsMode::kAll).ok());
    const int32_t next = 1260;
    std::vector<float> all((*s)->logits().begin(), (*s)->logits().end());
    ASSERT_TRUE((*s)->eval({&next, 1}, LogitsMode::kLast).ok());  // and one decode step
    all.insert(all.end(), (*s)->logits().begin(), (*s)->logits().end());
    logits.push_back(std::move(all));
  }
  ASSERT_EQ(logits[0].size(), logits[1].size());
  EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)), 0);
}

TEST(Session, PromptLongerThanContextIsAClearError) {
  auto m = load_model(kRefS);
  ASSERT_TRUE(m.ok());
  auto s = Session::create(**m, {8, 256, {}});
  ASSERT_TRUE(s.ok());
  std::vector<int32_t> ids(9, 5);
  Status st = (*s)->eval(ids);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.message().find("9 tokens do not fit the context: 0 of 8 positions are used"),
            std::string::npos)
      << st.message();
  ASSERT_TRUE((*s)->eval({ids.data(), 5}).ok());
  EXPECT_FALSE((*s)->eval({ids.data(), 4}).ok());  // 5 + 4 > 8
  EXPECT_EQ((*s)->n_past(), 5);                    // unchanged by the failed call
  ASSERT_TRUE((*s)->eval({ids.data(), 3}).ok());
  EXPECT_EQ((*s)->n_past(), 8);

  (*s)->reset();
  const int32_t bad = 8192;
  Status tok = (*s)->eval({&bad, 1});
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.message().find("token id 8192"), std::string::npos) << tok.message();
}

// Chunked prefill (n_batch smaller than the prompt) and one-token-at-a-time decode agree with a
// single batched prefill to f32 rounding.
TEST(Session, ChunkedPrefillAndDecodeAgreeWithBatched) {
  auto m = load_model(kRefS);
  ASSERT_TRUE(m.ok());
  const std::vector<int32_t> ids = {47,  1405, 700, 259,  622, 12,  515,
                                    327, 259,  655, 1260, 12,  284, 297};
  const int64_t V = (*m)->hp.n_vocab, n = static_cast<int64_t>(ids.size());
  auto whole = Session::create(**m, {64, 256, {"f32", "f32", {}, 0}});
  ASSERT_TRUE((*whole)->eval(ids, LogitsMode::kAll).ok());
  auto chunked = Session::create(**m, {64, 5, {"f32", "f32", {}, 0}});
  ASSERT_TRUE((*chunked)->eval(ids, LogitsMode::kAll).ok());
  auto step = Session::create(**m, {64, 256, {"f32", "f32", {}, 0}});
  double max_c = 0, max_s = 0;
  for (int64_t t = 0; t < n; ++t) {
    ASSERT_TRUE((*step)->eval({&ids[t], 1}, LogitsMode::kLast).ok());
    for (int64_t v = 0; v < V; ++v) {
      const float w = (*whole)->logits()[t * V + v];
      max_c = std::max(max_c, static_cast<double>(std::fabs((*chunked)->logits()[t * V + v] - w)));
      max_s = std::max(max_s, static_cast<double>(std::fabs((*step)->last_logits()[v] - w)));
    }
  }
  std::printf("max |chunked - batched| %.3g, max |decode - batched| %.3g\n", max_c, max_s);
  EXPECT_LT(max_c, 2e-5);
  EXPECT_LT(max_s, 2e-5);
}

}  // namespace
}  // namespace tq
