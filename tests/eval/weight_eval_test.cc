// tq eval's row syntax and target lines (eval/weight_eval.h), on hand-made results.
#include "eval/weight_eval.h"

#include <gtest/gtest.h>

namespace tq {
namespace {

TEST(EvalRows, ParsesLabelsMethodsAndSizeReferences) {
  auto rows = parse_eval_rows("q8,tq3 full:tq3@full,at tq3 size:bpw=like(tq3 full)", "datafree");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->size(), 4u);  // base added first
  EXPECT_EQ((*rows)[0].recipe, "base");
  EXPECT_EQ((*rows)[1].label, "q8 datafree");
  EXPECT_EQ((*rows)[2].method, "full");
  EXPECT_EQ((*rows)[3].recipe, "bpw=like(tq3 full)");
  EXPECT_EQ((*rows)[3].method, "datafree");
  EXPECT_EQ(eval_row_size_of((*rows)[3].recipe), "tq3 full");
  EXPECT_EQ(eval_row_size_of("bpw=3"), "");
  EXPECT_EQ(eval_row_size_of("tq4"), "");
}

TEST(EvalRows, RejectsUnknownOrLaterSizeReferences) {
  auto later = parse_eval_rows("x:bpw=like(tq3 full),tq3 full:tq3", "full");
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("no earlier row labelled 'tq3 full'"), std::string::npos)
      << later.status().message();
  EXPECT_FALSE(parse_eval_rows("x:bpw=like(nothing)", "full").ok());
  EXPECT_FALSE(parse_eval_rows("x:bpw=like(base)@nomethod", "full").ok());
  EXPECT_FALSE(parse_eval_rows("tq9", "full").ok());
}

WeightEvalResult row(std::string label, std::string recipe, std::string canonical, double bpw, double kld) {
  WeightEvalResult r;
  r.row = {std::move(label), std::move(recipe), "full"};
  r.recipe_canonical = std::move(canonical);
  r.bpw = bpw;
  r.kld = kld;
  return r;
}

TEST(EvalTargets, JudgesOnlyEqualSizePairs) {
  WeightEvalOptions opt;
  std::vector<WeightEvalResult> r = {
      row("base", "base", "base", 16, 0),
      row("tq3 full", "tq3", "tq3", 3.754, 0.08),
      row("tq3 uniform", "tq3;token_embd=tq3", "tq3;token_embd=tq3", 3.139, 0.14),
      row("mixed --bpw 3.0", "bpw=3", "bpw=3", 2.997, 0.139),
      row("mixed at tq3 size", "bpw=like(tq3 full)", "bpw=3.754", 3.754, 0.05),
  };
  const std::string t = weight_eval_targets(opt, r);
  EXPECT_NE(t.find("vs uniform tq3 uniform: **met**"), std::string::npos) << t;
  EXPECT_NE(t.find("vs uniform tq3 full: **not an equal-size pair**"), std::string::npos) << t;
  EXPECT_NE(t.find("(0.757 bpw more)"), std::string::npos) << t;
  EXPECT_NE(t.find("mixed at tq3 size vs tq3 full at equal size: **met**"), std::string::npos) << t;
  r[4].kld = 0.09;
  EXPECT_NE(weight_eval_targets(opt, r).find("at equal size: **missed**"), std::string::npos);
  r[3].kld = 0.2;  // a loss against the equal-size uniform row is a miss
  EXPECT_NE(weight_eval_targets(opt, r).find("vs uniform tq3 uniform: **missed**"), std::string::npos);
}

}  // namespace
}  // namespace tq
