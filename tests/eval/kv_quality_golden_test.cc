// End-to-end KV-cache quality on tq-ref-m (head_dim 128): the KLD against the f16-KV logits of
// quantized caches, calibration from corpus/train-00.txt (never the evaluated text). Pins the
// headline of docs/RESULTS.md ("KV cache quality") on a few windows: transform coding (tqw3.5)
// beats rotation + outlier split (tq3.5) at 3.5 bits and q4 with rotation at 4.5 bits, and q8 is
// nearly lossless.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/kv_channel_stats.h"
#include "valid_text.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

TEST(KvQuality, TransformCodingBeatsRotationAtEqualBits) {
  Loaded l = load("tq-ref-m");
  const fs::path dir = testing::scratch_dir("kvq_test");
  PerplexityOptions o;
  o.max_chunks = 4;
  o.progress = false;
  o.save_logits_path = (dir / "base.tqlogits").string();
  auto base = session(*l.model, "f16");
  ASSERT_TRUE(perplexity(*base, l.ids, o).ok());
  o.kld_base_path = o.save_logits_path;
  o.save_logits_path.clear();

  auto stats = kv_channel_stats_from_source(*l.model, kData + "/corpus/train-00.txt", 2048,
                                            /*covariances=*/true);
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  auto kld = [&](const std::string& type) {
    SessionOptions so;
    so.n_ctx = 512;
    so.n_batch = 512;
    so.kv.k_type = so.kv.v_type = type;
    so.kv.channel_stats = *stats;
    auto s = Session::create(*l.model, so);
    testing::ok_or_throw(s.status());
    auto r = perplexity(**s, l.ids, o);
    testing::ok_or_throw(r.status());
    std::printf("%-7s %s\n", type.c_str(), format_perplexity(*r, o).c_str());
    return r->kld->mean;
  };
  const double q8 = kld("q8"), q4r = kld("q4r"), t35 = kld("tq3.5"), w35 = kld("tqw3.5"),
               w45 = kld("tqw4.5");
  // 80 windows (RESULTS.md): q8 0.00017, q4r 0.0109, tq3.5 0.0290, tqw3.5 0.0086, tqw4.5 0.0029
  EXPECT_LT(q8, 5e-4);
  EXPECT_GT(q4r, 0.006);
  EXPECT_LT(q4r, 0.02);
  EXPECT_GT(w35, 0.004);
  EXPECT_LT(w35, 0.016);
  EXPECT_LT(w35, 0.5 * t35);  // same bits (3.5), same calibration
  EXPECT_LT(w45, 0.5 * q4r);  // same bits (4.5)
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tq
