// Runs the libFuzzer target fuzz/fuzz_tokenizer_json.cc without libFuzzer: on its seeds, on the
// fixtures, and on seeded random mutations of them (byte flips, cuts, splices). Catches crashes
// and broken invariants in every normal build; the bounded libFuzzer run goes further.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "../../fuzz/fuzz_tokenizer_json.cc"
#include "core/file_util.h"
#include "core/rng.h"
#include "../common/test_seed.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> seeds() {
  std::vector<std::string> out;
  for (const char* dir : {"/fuzz/seeds/tokenizer_json", "/tests/data/tokenizer/qwen2_style"}) {
    for (const auto& e : fs::directory_iterator(std::string(TQ_SOURCE_DIR) + dir)) {
      if (e.path().filename() == "cases.json") continue;
      auto text = read_file(e.path().string());
      EXPECT_TRUE(text.ok());
      if (text.ok()) out.push_back(*text);
    }
  }
  return out;
}

void run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(TokenizerFuzzReplay, SeedsAndMutations) {
  const auto base = seeds();
  ASSERT_GE(base.size(), 4u);
  for (const auto& s : base) run(s);
  Rng rng(testing::test_seed());
  static const char* const kSnippets[] = {
      "{",       "}",        "[",   "]",        "\"",        ",",
      ":",       "null",     "-1",  "99999999", "\"Regex\"", "\"Sequence\"",
      "\\u0000", "\xF0\x9F", "(?=", "\"ids\"",  "0"};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = base[rng.next_u64() % base.size()];
    const int n_edits = 1 + static_cast<int>(rng.next_u64() % 4);
    for (int k = 0; k < n_edits && !s.empty(); ++k) {
      const size_t pos = rng.next_u64() % s.size();
      switch (rng.next_u64() % 4) {
        case 0:
          s[pos] = static_cast<char>(rng.next_u64());
          break;
        case 1:
          s.resize(pos);
          break;
        case 2:
          s.insert(pos, kSnippets[rng.next_u64() % std::size(kSnippets)]);
          break;
        case 3:
          s.erase(pos, 1 + rng.next_u64() % 16);
          break;
      }
    }
    run(s);
  }
}

}  // namespace
}  // namespace tq
