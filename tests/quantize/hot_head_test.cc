// Hot rows of an untied output head ("output=tq<b>+h<K>") on a tiny synthetic Llama whose head is
// untied (tq synth tiny-llama3): stored as output.hot.weight + output.hot_ids, the logits equal
// the dequantized head plus the residual rows on exactly the hot tokens, prefill == decode, the
// binder refuses damaged files naming file and tensor, and the --bpw allocator measures and picks
// them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "../common/test_seed.h"
#include "core/file_util.h"
#include "core/rng.h"
#include "formats/format.h"
#include "io/gguf_writer.h"
#include "kernels/matmul.h"
#include "model/synth.h"
#include "quantize/pipeline.h"
#include "runtime/session.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

// Captures the head's input (the output-normed residual) of each eval.
class HeadInput : public ForwardObserver {
 public:
  void on_linear_input(int64_t, LinearInput which, const float* x, int64_t n, int64_t cols) override {
    if (which == LinearInput::kHead) rows.assign(x, x + n * cols);
  }
  std::vector<float> rows;  // [n_out, n_embd]
};

class HotHead : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::scratch_dir("hot_head_test");
    SynthOptions o;
    o.preset = "tiny-llama3";  // untied head, n_vocab 320, n_embd 64
    o.out_dir = (dir_ / "tiny").string();
    o.progress = false;
    ASSERT_TRUE(synth_model(o).ok());
    std::string text;  // calibration text: skewed byte frequencies, so some tokens are hot
    for (int i = 0; i < 400; ++i)
      text += "the cat sat on the mat; " + std::to_string(i * 7919 % 1000) + " eee aaa\n";
    ASSERT_TRUE(write_file_atomic((dir_ / "calib.txt").string(), text).ok());
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static QuantizeOptions options(const std::string& recipe) {
    QuantizeOptions o;
    o.recipe = *parse_recipe(recipe);
    o.calib.text_path = (dir_ / "calib.txt").string();
    o.calib.n_windows = 4;
    o.calib.n_ctx = 32;
    o.calib.progress = false;
    o.sens_windows = 2;
    o.group = 32;
    o.progress = false;
    return o;
  }

  static std::string quantize(const std::string& recipe, const std::string& name,
                              HeadHotRule rule = HeadHotRule::kFrequency) {
    auto m = load_model((dir_ / "tiny").string());
    testing::ok_or_throw(m.status());
    QuantizeOptions o = options(recipe);
    o.head_hot_rule = rule;
    const std::string out = (dir_ / name).string();
    auto r = quantize_model(**m, out, o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return out;
  }

  // Copies a GGUF file; `edit` may change each tensor's declaration (name, shape) and bytes, or
  // drop it (return false).
  static std::string rewrite(const std::string& src, const std::string& name,
                             const std::function<bool(GgufTensorDecl&, std::vector<uint8_t>&)>& edit) {
    auto mf = open_model(src);
    testing::ok_or_throw(mf.status());
    std::vector<GgufTensorDecl> decls;
    std::vector<std::vector<uint8_t>> data;
    for (const auto& t : mf->tensors) {
      GgufTensorDecl d{t.name, t.type, t.shape};
      std::vector<uint8_t> bytes(t.data, t.data + t.n_bytes);
      if (!edit(d, bytes)) continue;
      decls.push_back(d);
      data.push_back(std::move(bytes));
    }
    const std::string out = (dir_ / name).string();
    auto w = GgufWriter::create(out, mf->meta, decls);
    testing::ok_or_throw(w.status());
    for (const auto& b : data) EXPECT_TRUE((*w)->write(b.data(), b.size()).ok());
    EXPECT_TRUE((*w)->finish().ok());
    return out;
  }

  static inline fs::path dir_;
};

// Logits of `tokens` (kAll in one eval, or one decode step per token) and the head's inputs.
std::vector<float> run(const Model& m, const std::vector<int32_t>& tokens, bool decode,
                       std::vector<float>* head_in = nullptr) {
  SessionOptions so;
  so.n_ctx = 64;
  so.n_batch = 64;
  so.kv.k_type = so.kv.v_type = "f32";
  auto s = Session::create(m, so);
  testing::ok_or_throw(s.status());
  HeadInput obs;
  (*s)->set_observer(&obs);
  std::vector<float> out;
  if (head_in) head_in->clear();
  if (decode) {
    for (int32_t t : tokens) {
      EXPECT_TRUE((*s)->eval(std::vector<int32_t>{t}, LogitsMode::kLast).ok());
      out.insert(out.end(), (*s)->logits().begin(), (*s)->logits().end());
      if (head_in) head_in->insert(head_in->end(), obs.rows.begin(), obs.rows.end());
    }
  } else {
    EXPECT_TRUE((*s)->eval(tokens, LogitsMode::kAll).ok());
    out.assign((*s)->logits().begin(), (*s)->logits().end());
    if (head_in) *head_in = obs.rows;
  }
  return out;
}

TEST_F(HotHead, StoredAndAddedToTheLogitsOfExactlyTheHotTokens) {
  auto m = load_model(quantize("tq4g32;output=tq3g32+h32", "hot.gguf"));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  Model& model = **m;
  ASSERT_FALSE(model.tied_output);
  EXPECT_TRUE(model.tok_embd_hot.empty());
  const HotRows& hot = model.output_hot;
  ASSERT_EQ(hot.ids.size(), 32u);
  for (size_t k = 1; k < hot.ids.size(); ++k) EXPECT_LT(hot.ids[k - 1], hot.ids[k]);
  EXPECT_EQ(&model.head_hot(), &model.output_hot);
  EXPECT_STREQ(type_name(hot.rows.type), "tq3g32");
  EXPECT_STREQ(type_name(model.output.type), "tq3g32");
  {  // the K tokens most frequent in the calibration windows (the default rule)
    QuantizeContext ctx(model, options("tq4g32").calib, 2, int64_t{1} << 30, false);
    auto freq = ctx.hot_token_ids(32, HeadHotRule::kFrequency);
    ASSERT_TRUE(freq.ok());
    EXPECT_EQ(hot.ids, *freq);
  }

  // Reference: every logit = (dequantized head row + its residual row) · head input, in double.
  const int64_t E = model.hp.n_embd, V = model.hp.n_vocab;
  const std::vector<int32_t> prompt = {hot.ids[0], 17, hot.ids[5], 250, 3, hot.ids.back(), 99};
  const auto T = static_cast<int64_t>(prompt.size());
  set_force_reference_kernels(true);  // the head's GEMV in f32/double, no int8 activations
  std::vector<float> x;
  const std::vector<float> got = run(model, prompt, false, &x);
  set_force_reference_kernels(false);
  ASSERT_EQ(static_cast<int64_t>(x.size()), T * E);
  std::vector<float> row(E), res(E);
  double max_err = 0, max_logit = 0, max_hot = 0;
  for (int64_t v = 0; v < V; ++v) {
    weight_row_to_float(model.output, v, row.data());
    const bool is_hot = hot.slot[v] >= 0;
    if (is_hot) weight_row_to_float(hot.rows, hot.slot[v], res.data());
    for (int64_t t = 0; t < T; ++t) {
      double base = 0, add = 0;
      for (int64_t c = 0; c < E; ++c) {
        base += double(row[c]) * x[t * E + c];
        if (is_hot) add += double(res[c]) * x[t * E + c];
      }
      max_err = std::max(max_err, std::abs(base + add - got[t * V + v]));
      max_logit = std::max(max_logit, std::abs(base + add));
      max_hot = std::max(max_hot, std::abs(add));
    }
  }
  EXPECT_LT(max_err, 1e-5 * max_logit) << "largest logit " << max_logit;
  EXPECT_GT(max_hot, 1e-3 * max_logit);  // the residual rows change the hot logits measurably

  // The fast kernels: the same logits on every other token when the hot rows are dropped, and
  // different ones on the hot tokens.
  const std::vector<float> with = run(model, prompt, false);
  const HotRows keep = model.output_hot;
  model.output_hot = HotRows{};
  const std::vector<float> without = run(model, prompt, false);
  model.output_hot = keep;
  double hot_diff = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t v = 0; v < V; ++v) {
      const float a = with[t * V + v], b = without[t * V + v];
      if (hot.slot[v] < 0)
        ASSERT_EQ(a, b) << "token " << v << " is not hot";
      else
        hot_diff = std::max(hot_diff, double(std::abs(a - b)));
    }
  EXPECT_GT(hot_diff, 1e-3 * max_logit);
}

TEST_F(HotHead, PrefillEqualsDecode) {
  auto m = load_model(quantize("tq4g32;output=tq3g32+h40", "hot40.gguf"));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const HotRows& hot = (*m)->output_hot;
  ASSERT_EQ(hot.ids.size(), 40u);
  const std::vector<int32_t> prompt = {hot.ids[1], hot.ids[2], 40, 7, hot.ids[30], 300, hot.ids[3]};
  for (bool reference : {true, false}) {
    SCOPED_TRACE(reference ? "reference kernels" : "fast kernels");
    set_force_reference_kernels(reference);
    const std::vector<float> prefill = run(**m, prompt, false);
    const std::vector<float> decode = run(**m, prompt, true);
    set_force_reference_kernels(false);
    ASSERT_EQ(prefill.size(), decode.size());
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < prefill.size(); ++i) {
      max_diff = std::max(max_diff, double(std::abs(prefill[i] - decode[i])));
      max_abs = std::max(max_abs, double(std::abs(prefill[i])));
    }
    // GEMM tiles vs GEMV: the same int8 activations, summed in another order.
    EXPECT_LT(max_diff, 1e-4 * max_abs);
  }
}

TEST_F(HotHead, DamagedFilesAreRefusedNamingFileAndTensor) {
  const std::string good = quantize("tq4g32;output=tq3g32+h32", "hot_good.gguf");
  auto expect_refused = [&](const std::string& path, const std::string& tensor, const std::string& what) {
    auto m = load_model(path);
    ASSERT_FALSE(m.ok()) << path;
    const std::string msg = m.status().to_string();
    EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(tensor), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  };
  auto set_id = [](size_t k, int32_t id) {
    return [=](GgufTensorDecl& d, std::vector<uint8_t>& b) {
      if (d.name == "output.hot_ids") std::memcpy(b.data() + 4 * k, &id, 4);
      return true;
    };
  };
  expect_refused(rewrite(good, "dup.gguf", set_id(1, 0)), "output.hot_ids", "strictly increasing");
  expect_refused(rewrite(good, "big.gguf", set_id(31, 320)), "output.hot_ids", "below n_vocab 320");
  expect_refused(rewrite(good, "neg.gguf", set_id(0, -1)), "output.hot_ids", "strictly increasing");
  expect_refused(rewrite(good, "no_ids.gguf", [](GgufTensorDecl& d, std::vector<uint8_t>&) {
                   return d.name != "output.hot_ids";
                 }),
                 "output.hot.weight", "ids 'output.hot_ids' are missing");
  expect_refused(rewrite(good, "no_rows.gguf", [](GgufTensorDecl& d, std::vector<uint8_t>&) {
                   return d.name != "output.hot.weight";
                 }),
                 "output.hot_ids", "residual rows 'output.hot.weight' are missing");
  // 31 ids for 32 residual rows: the rows' shape disagrees with the ids.
  expect_refused(rewrite(good, "short_ids.gguf", [](GgufTensorDecl& d, std::vector<uint8_t>& b) {
                   if (d.name == "output.hot_ids") {
                     d.shape = {31};
                     b.resize(31 * 4);
                   }
                   return true;
                 }),
                 "output.hot.weight", "expected [31, 64]");
  // ids of the wrong type / rank.
  expect_refused(rewrite(good, "f32_ids.gguf", [](GgufTensorDecl& d, std::vector<uint8_t>&) {
                   if (d.name == "output.hot_ids") d.type = TypeId::f32;
                   return true;
                 }),
                 "output.hot_ids", "1-D i32");
  expect_refused(rewrite(good, "2d_ids.gguf", [](GgufTensorDecl& d, std::vector<uint8_t>&) {
                   if (d.name == "output.hot_ids") d.shape = {2, 16};
                   return true;
                 }),
                 "output.hot_ids", "1-D i32");
  // Head hot rows in a file whose head is tied (no output.weight).
  expect_refused(rewrite(good, "tied.gguf", [](GgufTensorDecl& d, std::vector<uint8_t>&) {
                   return d.name != "output.weight";
                 }),
                 "output.hot", "no output.weight");
}

// Random damage to the ids and the residual rows' scales (seeded): every load either fails with an
// error naming the hot-row tensor or gives a model whose ids are valid; none crashes.
TEST_F(HotHead, RandomDamageIsRefusedOrHarmless) {
  const std::string good = quantize("tq4g32;output=tq3g32+h32", "hot_fuzz.gguf");
  Rng rng(testing::test_seed("hot head damage"));
  int refused = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const std::string target = rng.below(2) ? "output.hot_ids" : "output.hot.weight";
    const auto path = rewrite(good, "fuzz.gguf", [&](GgufTensorDecl& d, std::vector<uint8_t>& b) {
      if (d.name == target)
        for (int k = 0; k < 1 + static_cast<int>(rng.below(4)); ++k)
          b[rng.below(b.size())] = static_cast<uint8_t>(rng.below(256));
      return true;
    });
    auto m = load_model(path);
    if (!m.ok()) {
      ++refused;
      EXPECT_NE(m.status().message().find(target), std::string::npos) << m.status().message();
      continue;
    }
    const HotRows& h = (*m)->output_hot;
    ASSERT_EQ(h.ids.size(), 32u);
    for (size_t k = 0; k < h.ids.size(); ++k) {
      ASSERT_TRUE(h.ids[k] >= 0 && h.ids[k] < 320 && (k == 0 || h.ids[k - 1] < h.ids[k]));
      ASSERT_EQ(h.slot[h.ids[k]], static_cast<int32_t>(k));
    }
  }
  EXPECT_GT(refused, 0);
}

TEST_F(HotHead, RecipeRulesAndTheirBits) {
  auto m = load_model((dir_ / "tiny").string());
  ASSERT_TRUE(m.ok());
  auto plan = make_plan(**m, *parse_recipe("tq4g32;output=tq3g32+h40"));
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const TensorPlan* head = plan->find("output.weight");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->role, TensorRole::kHead);
  // 320 × 64 at tq3g32 (3 + 16/32 bits) plus 40 residual rows at the same width and 40 i32 ids.
  EXPECT_EQ(head->bits(), std::llround(320 * 64 * 3.5) + std::llround(40 * 64 * 3.5) + 40 * 32);
  EXPECT_FALSE(make_plan(**m, *parse_recipe("tq4g32;output=tq3g32+h321")).ok());  // > n_vocab
  EXPECT_FALSE(make_plan(**m, *parse_recipe("tq4g32;ffn_up=tq3g32+h4")).ok());
}

// The --bpw allocator measures the head's hot-row options (K = V/32, V/8) and takes one where it
// pays: here with a budget that affords nothing but the head's width and its hot rows.
TEST_F(HotHead, AllocatorMeasuresAndPicksHeadHotRows) {
  auto m = load_model((dir_ / "tiny").string());
  ASSERT_TRUE(m.ok());
  QuantizeContext ctx(**m, options("bpw=4").calib, 2, int64_t{1} << 30, false);
  QuantizeOptions o = options("bpw=4");
  o.widths = {2, 3, 4, 5, 6, 8};
  o.sens_widths = {2, 3, 4};
  const std::string out = (dir_ / "bpw.gguf").string();
  auto r = quantize_model(**m, out, o, &ctx);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(ctx.sensitivity.size(), 1u);
  const auto& table = ctx.sensitivity.begin()->second;
  const TensorSensitivity& head = table.at("output.weight");
  for (int64_t k : {10, 40})
    for (double b : {2.0, 3.0, 4.0, 5.0}) {
      ASSERT_TRUE(head.hot_dkld.count({b, k})) << "width " << b << " K " << k;
      // Residual rows make K rows more exact: the measured KLD falls below the plain width's.
      if (head.measured.count(b))
        EXPECT_LT(head.hot_dkld.at({b, k}), head.measured.at(b)) << "width " << b << " K " << k;
    }
  EXPECT_FALSE(head.hot_dkld.count({6.0, 10}));  // hot options up to 5 bits
  EXPECT_TRUE(table.at("token_embd.weight").hot_dkld.count({3.0, 10}));
  EXPECT_FALSE(table.at("blk.0.ffn_up.weight").hot_dkld.size());
  {  // head_hot_fractions empty (--no-head-hot-plans): the head gets no options, the embedding does
    QuantizeOptions none = o;
    none.head_hot_fractions.clear();
    ASSERT_TRUE(quantize_model(**m, out, none, &ctx).ok());
    ASSERT_EQ(ctx.sensitivity.size(), 2u);
    for (const auto& [key, t] : ctx.sensitivity)
      if (&t != &table) {
        EXPECT_TRUE(t.at("output.weight").hot_dkld.empty());
        EXPECT_FALSE(t.at("token_embd.weight").hot_dkld.empty());
      }
  }

  // Allocation: options that make every tensor but the head cheap and flat, so the only way to
  // spend the budget well is the head's hot rows.
  std::map<std::string, TensorSensitivity> sens = table;
  for (auto& [name, s] : sens) {
    if (name == "output.weight") continue;
    for (auto& [b, d] : s.dkld) d = 1e-6 / b;
    s.hot_dkld.clear();
  }
  TensorSensitivity& hs = sens.at("output.weight");
  for (auto& [b, d] : hs.dkld) d = 1.0 / b;         // more bits help a little
  for (auto& [bk, d] : hs.hot_dkld) d = 0.01 / bk.first;  // hot rows help a lot
  auto plan = make_plan(**m, *parse_recipe("bpw=3"));
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(allocate_plan(*plan, sens, 3.0, 32).ok());
  EXPECT_GT(plan->find("output.weight")->spec.hot_rows, 0) << to_string(plan->find("output.weight")->spec);
  // Hot rows that do not pay (no better than the plain width) are not taken.
  for (auto& [bk, d] : hs.hot_dkld) d = 1.01 * hs.dkld.at(bk.first);
  auto plan2 = make_plan(**m, *parse_recipe("bpw=3"));
  ASSERT_TRUE(allocate_plan(*plan2, sens, 3.0, 32).ok());
  EXPECT_EQ(plan2->find("output.weight")->spec.hot_rows, 0);
}

TEST_F(HotHead, PredictedRuleChoosesOtherTokensThanFrequency) {
  auto m = load_model((dir_ / "tiny").string());
  ASSERT_TRUE(m.ok());
  QuantizeContext ctx(**m, options("tq4g32").calib, 2, int64_t{1} << 30, false);
  auto freq = ctx.hot_token_ids(40, HeadHotRule::kFrequency);
  auto prob = ctx.hot_token_ids(40, HeadHotRule::kPredicted);
  ASSERT_TRUE(freq.ok() && prob.ok());
  ASSERT_EQ(prob->size(), 40u);
  for (size_t k = 1; k < prob->size(); ++k) EXPECT_LT((*prob)[k - 1], (*prob)[k]);
  // A random-weight model predicts near-uniformly, not the text's byte frequencies.
  EXPECT_NE(*freq, *prob);
  auto again = ctx.hot_token_ids(40, HeadHotRule::kPredicted);  // cached, deterministic
  EXPECT_EQ(*again, *prob);
  // The file records the rule's tokens.
  auto q = load_model(quantize("tq4g32;output=tq3g32+h40", "prob.gguf", HeadHotRule::kPredicted));
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  EXPECT_EQ((*q)->output_hot.ids, *prob);
}

}  // namespace
}  // namespace tq
