// Recipes: canonical round trip, overrides by pattern, implicit embedding width, clear errors.
#include <gtest/gtest.h>

#include "quantize/recipe.h"

namespace tq {
namespace {

TEST(Recipe, CanonicalRoundTrip) {
  for (const char* s : {"tq4", "tq3;attn_v=tq5;ffn_down=tq4", "bpw=2.7", "bpw=3;token_embd=tq6",
                        "tq2g64;blk.0.*=tq4;output=q8", "rtn4", "gptq4", "q8", "bf16",
                        "tq4;token_embd=q8_0", "bpw=5.047;blk.5.ffn_down=tq8g32", "tq3.5",
                        "tq2.5g64;attn_v=tq4.5;token_embd=tq5.5g32", "tq3;token_embd=tq3+h1024",
                        "bpw=3;token_embd=tq2.5g64+h7", "tq3;output=tq3+h256",
                        "bpw=3;token_embd=tq3+h256;output=tq4g64+h1024"}) {
    auto r = parse_recipe(s);
    ASSERT_TRUE(r.ok()) << s << ": " << r.status().to_string();
    EXPECT_EQ(to_string(*r), s);
    auto again = parse_recipe(to_string(*r));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *r);
  }
}

TEST(Recipe, NonCanonicalSpellingsNormalize) {
  EXPECT_EQ(to_string(*parse_recipe("tq4g128")), "tq4");
  EXPECT_EQ(to_string(*parse_recipe(" tq3 ; attn_v = tq5 ")), "tq3;attn_v=tq5");
  EXPECT_EQ(to_string(*parse_recipe("bpw=3.0")), "bpw=3");
}

TEST(Recipe, Structure) {
  auto r = *parse_recipe("tq3;attn_v=tq5;ffn_down=tq4g64");
  ASSERT_TRUE(r.base.has_value());
  EXPECT_EQ(r.base->bits, 3);
  EXPECT_EQ(r.base->group, 128);
  ASSERT_EQ(r.overrides.size(), 2u);
  EXPECT_EQ(r.overrides[1].pattern, "ffn_down");
  EXPECT_EQ(r.overrides[1].spec.group, 64);
  auto m = *parse_recipe("bpw=2.7");
  EXPECT_FALSE(m.base.has_value());
  EXPECT_DOUBLE_EQ(*m.target_bpw, 2.7);
}

TEST(Recipe, SpecForTensors) {
  auto r = *parse_recipe("tq3;attn_v=tq5;blk.1.*=tq4;blk.1.attn_v=tq6");
  EXPECT_EQ(to_string(*spec_for(r, "blk.0.attn_q.weight", false)), "tq3");
  EXPECT_EQ(to_string(*spec_for(r, "blk.0.attn_v.weight", false)), "tq5");
  EXPECT_EQ(to_string(*spec_for(r, "blk.1.ffn_up.weight", false)), "tq4");
  EXPECT_EQ(to_string(*spec_for(r, "blk.1.attn_v.weight", false)), "tq6");
  EXPECT_EQ(to_string(*spec_for(r, "blk.10.attn_v.weight", false)), "tq5");  // not blk.1.*
  // Implicit embedding: two bits above the default, 8 above 6.
  EXPECT_EQ(to_string(*spec_for(r, "token_embd.weight", true)), "tq5");
  EXPECT_EQ(to_string(*spec_for(*parse_recipe("tq6"), "token_embd.weight", true)), "tq8");
  EXPECT_EQ(to_string(*spec_for(*parse_recipe("tq3.5"), "token_embd.weight", true)), "tq5.5");
  EXPECT_EQ(to_string(*spec_for(*parse_recipe("tq4.5g64"), "token_embd.weight", true)), "tq8g64");
  EXPECT_EQ(to_string(*spec_for(*parse_recipe("gptq4"), "token_embd.weight", true)), "gptq4");
  EXPECT_EQ(to_string(*spec_for(*parse_recipe("tq4;token_embd=tq4"), "token_embd.weight", true)),
            "tq4");
  auto m = *parse_recipe("bpw=3;token_embd=tq6");
  EXPECT_FALSE(spec_for(m, "blk.0.attn_q.weight", false).has_value());
  EXPECT_EQ(to_string(*spec_for(m, "token_embd.weight", true)), "tq6");
}

TEST(Recipe, Widths) {
  EXPECT_EQ(parse_tensor_spec("tq3.5")->width(), 3.5);
  EXPECT_EQ(parse_tensor_spec("tq3")->width(), 3.0);
  for (double w : {2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 8.0}) {
    const TensorSpec s = tq_spec_of_width(w, 64);
    EXPECT_EQ(s.width(), w);
    EXPECT_EQ(s.group, 64);
    EXPECT_EQ(*parse_tensor_spec(to_string(s)), s);
  }
}

TEST(Recipe, PatternMatching) {
  EXPECT_TRUE(pattern_matches("attn_v", "blk.3.attn_v.weight"));
  EXPECT_FALSE(pattern_matches("attn_v", "blk.3.attn_vx.weight"));
  EXPECT_FALSE(pattern_matches("v", "blk.3.attn_v.weight"));
  EXPECT_TRUE(pattern_matches("blk.3.attn_v", "blk.3.attn_v.weight"));
  EXPECT_TRUE(pattern_matches("blk.*.ffn_*", "blk.12.ffn_up.weight"));
  EXPECT_FALSE(pattern_matches("blk.1.*", "blk.12.ffn_up.weight"));
  EXPECT_TRUE(pattern_matches("token_embd", "token_embd.weight"));
}

TEST(Recipe, Errors) {
  auto expect_error = [](const char* s, const char* fragment) {
    auto r = parse_recipe(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_NE(r.status().message().find(fragment), std::string::npos)
        << s << " -> " << r.status().message();
  };
  expect_error("", "empty");
  expect_error("tq7", "2, 3, 4, 5, 6 or 8");
  expect_error("tq4g100", "32, 64 or 128");
  expect_error("tq6.5", "2.5, 3.5, 4.5 and 5.5");
  expect_error("tq3+h0", "+h<rows>");
  expect_error("tq3+x5", "+h<rows>");
  expect_error("tq9+h5", "2, 3, 4, 5, 6 or 8");
  expect_error("tq3.7", "tq<bits>[.5]");
  expect_error("tq4;attn_v", "pattern=format");
  expect_error("tq4;=tq5", "needs a tensor pattern");
  expect_error("attn_v=tq5", "first item");
  expect_error("bpw=abc", "bpw must be a number");
  expect_error("bpw=0.5", "bpw must be a number");
  expect_error("tq4;attn_v=nope", "unknown tensor format 'nope'");
  expect_error("tq4;;attn_v=tq5", "item 2 is empty");
}

}  // namespace
}  // namespace tq
