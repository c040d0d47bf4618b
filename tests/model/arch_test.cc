// Each architecture variant against Hugging Face transformers: the tiny synthetic models of
// tq synth (llama with llama3 RoPE scaling and an untied head, qwen2 with q/k/v bias, qwen3 with
// q/k RMSNorm and n_head * head_dim != hidden), reference logits from tools/ref_tiny_archs.py.
// Then the same model as GGUF (tq convert's writer): bit-identical logits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "io/gguf_convert.h"
#include "model/synth.h"
#include "runtime/session.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

std::vector<float> prompt_logits(const Model& m, const std::vector<int32_t>& ids) {
  auto s = Session::create(m, {64, 256, {"f32", "f32", {}, 0}});
  testing::ok_or_throw(s.status());
  EXPECT_TRUE((*s)->eval(ids, LogitsMode::kAll).ok());
  return {(*s)->logits().begin(), (*s)->logits().end()};
}

class ArchVsTransformers : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchVsTransformers, MatchesTransformersAndGguf) {
  const std::string preset = GetParam();
  const auto ref = nlohmann::json::parse(*read_file(std::string(TQ_SOURCE_DIR) + "/tests/data/runtime/tiny_archs.json"));
  const fs::path dir = testing::scratch_dir("arch_test");
  SynthOptions o;
  o.preset = preset;
  o.type = TypeId::f32;
  o.out_dir = (dir / preset).string();
  o.progress = false;
  ASSERT_TRUE(synth_model(o).ok());
  auto m = load_model(o.out_dir);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const auto ids = ref["ids"].get<std::vector<int32_t>>();
  const std::vector<float> got = prompt_logits(**m, ids);
  const auto want = ref[preset]["logits"].get<std::vector<std::vector<double>>>();
  const int64_t V = (*m)->hp.n_vocab;
  ASSERT_EQ(want.size() * V, got.size());
  double max_diff = 0, max_abs = 0;
  for (size_t t = 0; t < want.size(); ++t)
    for (int64_t v = 0; v < V; ++v) {
      max_diff = std::max(max_diff, std::fabs(got[t * V + v] - want[t][v]));
      max_abs = std::max(max_abs, std::fabs(want[t][v]));
    }
  std::printf("%s: max |logit - transformers| %.3g (logits up to %.3g)\n", preset.c_str(), max_diff, max_abs);
  // Measured on AVX3_DL / AVX2 / scalar: tiny-llama3 2.7e-6..3.5e-6 (logits up to 4.4), tiny-qwen2
  // 4.2e-7..5.0e-7, tiny-qwen3 5.1e-7..8.5e-7 (logits up to 0.7): ~2.4x margin.
  EXPECT_LT(max_diff, 2e-6 * std::max(1.0, max_abs));

  SynthOptions g = o;
  g.out_dir = (dir / (preset + ".gguf")).string();
  ASSERT_TRUE(synth_model(g).ok());
  auto gm = load_model(g.out_dir);
  ASSERT_TRUE(gm.ok()) << gm.status().to_string();
  EXPECT_EQ((*gm)->qk_interleaved, (*m)->hp.arch == tq::Arch::kLlama);
  const std::vector<float> gg = prompt_logits(**gm, ids);
  EXPECT_EQ(std::memcmp(gg.data(), got.data(), got.size() * sizeof(float)), 0) << "HF and GGUF logits differ";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Tiny, ArchVsTransformers, ::testing::Values("tiny-llama3", "tiny-qwen2", "tiny-qwen3"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace tq
