#include "io/saved_logits.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/rng.h"
#include "../common/scratch_dir.h"
#include "../common/test_seed.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

std::string tmp_path(const std::string& name) {
  const fs::path d = testing::scratch_dir("saved_logits_test");
  return (d / name).string();
}

// Exact KL(softmax(a) || softmax(b)) in double; *err_bound: first-order effect of storing a's
// log-probabilities with error <= scale / 2 each, (scale / 2) * sum p |log p - log q| (+ the
// normalization shift, bounded the same way).
double exact_kld(const std::vector<float>& a, const std::vector<float>& b, double* err_bound = nullptr) {
  auto logsoftmax = [](const std::vector<float>& x) {
    double mx = *std::max_element(x.begin(), x.end()), s = 0;
    for (float v : x) s += std::exp(v - mx);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] - mx - std::log(s);
    return out;
  };
  auto la = logsoftmax(a), lb = logsoftmax(b);
  double k = 0, spread = 0;
  for (size_t i = 0; i < a.size(); ++i) k += std::exp(la[i]) * (la[i] - lb[i]);
  for (size_t i = 0; i < a.size(); ++i) spread += std::exp(la[i]) * std::fabs(la[i] - lb[i] - k);
  if (err_bound) *err_bound = 0.5 * kSavedLogitRange / 65535.0 * (spread + 1e-3);
  return k;
}

TEST(SavedLogits, RoundTripGivesKldOfTheExactLogits) {
  Rng rng(testing::test_seed());
  const int64_t V = 1001, n_ctx = 6, n_chunks = 2, first = 0,
                per = n_ctx - 1 - first;  // odd V: padded records
  std::vector<int32_t> tokens(n_ctx * n_chunks);
  for (auto& t : tokens) t = static_cast<int32_t>(rng.below(V));
  std::vector<std::vector<float>> base(n_chunks * per);
  for (auto& l : base) {
    l.resize(V);
    for (auto& x : l) x = static_cast<float>(3.0 * rng.normal());
  }
  const std::string path = tmp_path("rt.tqlogits");
  {
    auto w =
        SavedLogitsWriter::create(path, {V, n_ctx, n_chunks, first, false, n_chunks * per}, tokens);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    for (int64_t i = 0; i < n_chunks * per; ++i)
      ASSERT_TRUE((*w)->add(base[i].data(), tokens[i % n_ctx + 1]).ok());
    ASSERT_FALSE(fs::exists(path));  // nothing at the final path before finish()
    ASSERT_TRUE((*w)->finish().ok());
  }
  auto r = SavedLogitsReader::open(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)->header().n_records, n_chunks * per);
  EXPECT_TRUE(std::equal(tokens.begin(), tokens.end(), (*r)->tokens().begin()));
  for (int64_t i = 0; i < n_chunks * per; ++i) {
    const auto rec = (*r)->record(i);
    // Against itself: only the 2-byte rounding remains.
    const TokenKld self = compare_to_saved(rec, base[i].data(), V);
    EXPECT_LT(self.kld, 1e-7);
    EXPECT_TRUE(self.top1_same);
    // Against perturbed logits: equal to the exact KLD up to the rounding.
    std::vector<float> run = base[i];
    for (auto& x : run) x += static_cast<float>(0.3 * rng.normal());
    double bound = 0;
    const double want = exact_kld(base[i], run, &bound);
    EXPECT_NEAR(compare_to_saved(rec, run.data(), V).kld, want, bound) << i;
    // The test is not vacuous: the rounding bound stays a small share of the KLD (typically ~0.1%,
    // up to 0.2% on rare seeds, e.g. 40539519857086); errors average out.
    EXPECT_LT(bound, 4e-3 * want);
    // The stored NLL is exact.
    double mx = *std::max_element(base[i].begin(), base[i].end()), s = 0;
    for (float v : base[i]) s += std::exp(v - mx);
    EXPECT_NEAR(rec.nll, mx + std::log(s) - base[i][tokens[i % n_ctx + 1]], 1e-4);
  }
}

TEST(SavedLogits, CorruptFilesGiveClearErrors) {
  const std::string path = tmp_path("bad.tqlogits");
  std::ofstream(path) << "not a logits file at all, definitely not";
  auto r = SavedLogitsReader::open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos);
  EXPECT_NE(r.status().message().find("not a saved-logits file"), std::string::npos);

  // A valid file, truncated.
  const std::string good = tmp_path("good.tqlogits");
  std::vector<int32_t> tokens(4, 1);
  auto w = SavedLogitsWriter::create(good, {8, 4, 1, 0, false, 3}, tokens);
  ASSERT_TRUE(w.ok());
  std::vector<float> l(8, 0.5f);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->add(l.data(), 2).ok());
  EXPECT_FALSE((*w)->add(l.data(), 2).ok());  // more records than announced
  ASSERT_TRUE((*w)->finish().ok());
  fs::resize_file(good, fs::file_size(good) - 5);
  auto t = SavedLogitsReader::open(good);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("truncated"), std::string::npos) << t.status().message();

  // Counts whose token bytes (4 x 2^31 x 2^31 = 2^64) wrapped to 0: the header then described
  // 40 + 20 x 2^31 bytes, and a file of that size was accepted with a 2^62-token window table.
  std::string h(40, '\0');
  const uint32_t v[6] = {1, 1, 1u << 31, 1u << 31, (1u << 31) - 2, 0};  // version, vocab, ctx, chunks, first, llamacpp
  std::memcpy(h.data(), "TQLOGIT1", 8);
  std::memcpy(h.data() + 8, v, sizeof(v));
  const uint64_t records = uint64_t{1} << 31;
  std::memcpy(h.data() + 32, &records, 8);
  const uint64_t wrapped_size = 40 + 20 * records;
  auto big = SavedLogitsReader::parse(reinterpret_cast<const uint8_t*>(h.data()), wrapped_size, "big.tqlogits");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().message(), "big.tqlogits: " + std::to_string(wrapped_size) +
                                        " bytes, but its header describes more than 2^64 (truncated?)");
}

}  // namespace
}  // namespace tq
