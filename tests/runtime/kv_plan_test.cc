// KV plan strings (--kv, --kv-layers), memory budgets and the memory summary.
#include "runtime/kv_plan.h"

#include <gtest/gtest.h>

namespace tq {
namespace {

TEST(KvPlan, CanonicalStringsRoundTrip) {
  for (const char* s : {"f16", "tq4/tq3", "tq3.5;0=tq4.5", "tq3;0,-1=q8;2-3=tq4/tq3", "q8;1=/tq4",
                        "tq4;0=q8/", "tq3.5/tq3;0-1,4=tq4.5;5=q8"}) {
    auto p = parse_kv_plan(s);
    ASSERT_TRUE(p.ok()) << s << ": " << p.status().to_string();
    EXPECT_EQ(format_kv_plan(*p), s);
  }
}

TEST(KvPlan, AppliesOverridesInOrder) {
  auto p = parse_kv_plan("tq3;0,-1=q8;2-3=tq4/tq3;3=/f16");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  KvCacheConfig cfg;
  apply_kv_plan(*p, &cfg);
  EXPECT_EQ(cfg.k_type, "tq3");
  auto f = resolve_kv_formats(6, cfg);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  const char* k[] = {"q8", "tq3", "tq4", "tq4", "tq3", "q8"};
  const char* v[] = {"q8", "tq3", "tq3", "f16", "tq3", "q8"};
  for (int l = 0; l < 6; ++l) {
    EXPECT_STREQ(f->k[l]->name, k[l]) << l;
    EXPECT_STREQ(f->v[l]->name, v[l]) << l;
  }
}

TEST(KvPlan, BadPlansNameTheProblem) {
  auto err = [](const char* s) {
    auto p = parse_kv_plan(s);
    EXPECT_FALSE(p.ok()) << s;
    return p.ok() ? std::string() : p.status().message();
  };
  EXPECT_NE(err("tq7").find("unknown KV cache type 'tq7'"), std::string::npos);
  EXPECT_NE(err("tq7").find("tq3.5"), std::string::npos);  // lists the known ones
  EXPECT_NE(err("tq3;x=q8").find("bad layer number 'x'"), std::string::npos);
  EXPECT_NE(err("tq3;0q8").find("expected LAYERS=TYPE"), std::string::npos);
  EXPECT_NE(err("tq3;3-1=q8").find("first <= last"), std::string::npos);
  EXPECT_NE(err("tq3;0=").find("sets no type"), std::string::npos);
  EXPECT_NE(err("tq3/").find("a type is missing"), std::string::npos);
  EXPECT_NE(err("tq3;").find("ends with"), std::string::npos);
  EXPECT_NE(err("").find("empty"), std::string::npos);
  EXPECT_FALSE(parse_kv_layers("0=q8;;1=q8").ok());
}

TEST(KvPlan, ByteSizes) {
  EXPECT_EQ(*parse_byte_size("8GiB"), int64_t{8} << 30);
  EXPECT_EQ(*parse_byte_size("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(*parse_byte_size("1.5GB"), 1500000000);
  EXPECT_EQ(*parse_byte_size("64kb"), 64000);
  EXPECT_EQ(*parse_byte_size("1e9"), 1000000000);
  EXPECT_EQ(*parse_byte_size("4096"), 4096);
  for (const char* bad : {"", "GiB", "8XB", "-1GB", "0", "1..5GB", "8 GiB", "nan"}) {
    auto r = parse_byte_size(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("memory budget"), std::string::npos) << bad;
    }
  }
}

TEST(KvPlan, MemorySummary) {
  KvCacheConfig cfg;
  cfg.k_type = "tq4";
  cfg.v_type = "tq3";
  auto kv = make_kv_cache({6, 16, 4, 2, 128}, cfg);
  ASSERT_TRUE(kv.ok());
  // per layer: 2 heads x (64 + 2) + 2 heads x (48 + 2) = 232 bytes; 6 layers = 1392
  EXPECT_DOUBLE_EQ((*kv)->bytes_per_token(), 1392);
  EXPECT_EQ(kv_max_context(**kv, 1392 * 1000 + 5), 1000);
  EXPECT_EQ(kv_memory_summary(**kv, int64_t{8} << 30),
            "KV k tq4, v tq3: 1,392 B/token (3.625 bits/element incl. scales, 4.41x smaller than "
            "f16); 8.00 GiB holds 6,170,930 tokens");
}

TEST(KvPlan, AutoPicksTheFirstTypeThatFits) {
  // Llama-3-8B's cache shape: 32 layers, 8 KV heads of 128. f16: 128 KiB per position.
  const int64_t gib = int64_t{1} << 30;
  for (bool calibrated : {false, true}) {
    const std::vector<std::string> ladder = kv_auto_ladder(calibrated);
    ASSERT_GE(ladder.size(), 3u);
    EXPECT_EQ(ladder.front(), "f16");
    // Every type is known, and each one's cache is smaller than the one before it.
    double prev = 1e30;
    for (const auto& t : ladder) {
      const KvFormat* f = find_kv_format(t);
      ASSERT_NE(f, nullptr) << t;
      EXPECT_LT(f->bytes_per_token(8, 128), prev) << t;
      prev = f->bytes_per_token(8, 128);
    }
    auto pick = [&](int64_t n_ctx, int64_t budget) {
      return choose_kv_type(ladder, 32, 8, 128, n_ctx, budget);
    };
    EXPECT_EQ(*pick(8192, 1 * gib), "f16");          // exactly 1 GiB
    EXPECT_EQ(*pick(8193, 1 * gib), "q8");           // one position more
    EXPECT_NE(*pick(131072, 8 * gib), "q8");         // q8 needs 8.125 GiB
    EXPECT_EQ(*pick(131072, 16 * gib), "f16");
    // The answer is the first ladder type that fits, whatever the sizes.
    for (int64_t budget_mib : {100, 700, 1500, 3000, 5000}) {
      const int64_t budget = budget_mib << 20;
      auto r = pick(65536, budget);
      if (!r.ok()) continue;
      size_t i = 0;
      while (ladder[i] != *r) ++i;
      const auto need = [&](size_t j) {
        return 2.0 * 32 * find_kv_format(ladder[j])->bytes_per_token(8, 128) * 65536;
      };
      EXPECT_LE(need(i), static_cast<double>(budget));
      if (i > 0) EXPECT_GT(need(i - 1), static_cast<double>(budget));
    }
  }
  auto none = choose_kv_type(kv_auto_ladder(false), 32, 8, 128, 1 << 20, int64_t{1} << 30);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("raise --kv-budget"), std::string::npos) << none.status().message();
  EXPECT_FALSE(choose_kv_type(kv_auto_ladder(false), 32, 8, 128, 0, gib).ok());
}

}  // namespace
}  // namespace tq
