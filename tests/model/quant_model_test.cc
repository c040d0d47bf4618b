// Models in our quantized formats (tq<b>g<G>, q8, rtn4) from `tq synth --type ...` GGUF files:
// they load memory-mapped, run on the integer kernels close to the dequantize-then-float reference,
// and corrupt files (non-finite scales, a missing or foreign rotation seed, truncation) give
// clear errors at load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>

#include "core/file_util.h"
#include "formats/format.h"
#include "formats/tq_weight.h"
#include "io/gguf_writer.h"
#include "kernels/matmul.h"
#include "model/synth.h"
#include "runtime/session.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

class QuantModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::scratch_dir("quant_model_test");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string synth(const std::string& type) {
    SynthOptions o;
    o.preset = "tiny-llama3";
    o.type = find_format(type)->id;
    o.out_dir = (dir_ / ("tiny-" + type + ".gguf")).string();
    o.progress = false;
    auto r = synth_model(o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return o.out_dir;
  }

  // Copies a GGUF file, letting `meta_fn` edit the metadata and `data_fn` each tensor's bytes.
  std::string rewrite(const std::string& src, const std::string& name,
                      const std::function<void(Metadata&)>& meta_fn,
                      const std::function<void(const TensorInfo&, std::vector<uint8_t>&)>& data_fn) {
    auto mf = open_model(src);
    testing::ok_or_throw(mf.status());
    Metadata meta = mf->meta;
    meta_fn(meta);
    std::vector<GgufTensorDecl> decls;
    for (const auto& t : mf->tensors) decls.push_back({t.name, t.type, t.shape});
    const std::string out = (dir_ / name).string();
    auto w = GgufWriter::create(out, meta, decls);
    testing::ok_or_throw(w.status());
    for (const auto& t : mf->tensors) {
      std::vector<uint8_t> bytes(t.data, t.data + t.n_bytes);
      data_fn(t, bytes);
      EXPECT_TRUE((*w)->write(bytes.data(), bytes.size()).ok());
    }
    EXPECT_TRUE((*w)->finish().ok());
    return out;
  }

  fs::path dir_;
};

std::vector<float> prompt_logits(const Model& m) {
  auto s = Session::create(m, {64, 256, {"f32", "f32", {}, 0}});
  testing::ok_or_throw(s.status());
  const std::vector<int32_t> ids = {1, 17, 250, 3, 99, 42, 7, 300, 12};
  EXPECT_TRUE((*s)->eval(ids, LogitsMode::kAll).ok());
  return {(*s)->logits().begin(), (*s)->logits().end()};
}

TEST_F(QuantModel, RunsOnTheIntegerKernelsCloseToTheReference) {
  // The int8 activation rounding through 2 random layers, as a fraction of the largest logit:
  // measured (AVX3_DL / AVX2 / scalar, the synth seed is fixed) x ~1.3.
  const std::pair<const char*, double> cases[] = {
      {"tq2g32", 0.032},   {"tq3g64", 0.042},   {"tq4g32", 0.027},
      {"tq4g64", 0.037},   {"tq8g64", 0.036},   {"tq3.5g32", 0.030},
      {"tq4.5g32", 0.040}, {"q8", 0.031},       {"rtn4", 0.018}};  // measured .0241 .0319 .0204
  // .0280 .0275 .0229 .0308 .0237 .0132
  for (const auto& [type, bound] : cases) {
    SCOPED_TRACE(type);
    auto m = load_model(synth(type));
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    EXPECT_EQ((*m)->layers[0].wq.type, find_format(type)->id == find_format("rtn4")->id
                                           ? TypeId::f16  // 64-column rows: not a multiple of 128
                                           : find_format(type)->id);
    const std::vector<float> fast = prompt_logits(**m);
    set_force_reference_kernels(true);  // dequantize with to_float, accumulate in double
    const std::vector<float> ref = prompt_logits(**m);
    set_force_reference_kernels(false);
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < fast.size(); ++i) {
      ASSERT_TRUE(std::isfinite(fast[i]));
      max_diff = std::max(max_diff, double(std::fabs(fast[i] - ref[i])));
      max_abs = std::max(max_abs, double(std::fabs(ref[i])));
    }
    std::printf("  %s: max |logit fast − reference| %.3g (logits up to %.3g): %.4f of it (bound %.3f)\n",
                type, max_diff, max_abs, max_diff / max_abs, bound);
    EXPECT_LT(max_diff, bound * max_abs);
    EXPECT_GT(max_diff, 0.0);             // the kernels really quantize the activations
  }
}

TEST_F(QuantModel, NonFiniteScaleIsACorruptFile) {
  const std::string src = synth("tq4g64");
  for (uint16_t bad : {uint16_t{0x7e00}, uint16_t{0x7c00}, uint16_t{0xfc00}}) {
    const std::string out = rewrite(
        src, "bad-scale.gguf", [](Metadata&) {},
        [&](const TensorInfo& t, std::vector<uint8_t>& b) {
          if (t.name != "blk.1.ffn_down.weight") return;
          // Row 3, block 1 of a 128-column row (two 34-byte blocks): 3 * row_bytes + 34.
          const size_t off = 3 * *row_bytes(t.type, t.n_cols()) + 34;
          std::memcpy(&b[off], &bad, 2);
        });
    auto m = load_model(out);
    ASSERT_FALSE(m.ok());
    const std::string msg = m.status().to_string();
    EXPECT_NE(msg.find("bad-scale.gguf"), std::string::npos) << msg;
    EXPECT_NE(msg.find("blk.1.ffn_down.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("row 3, block 1 "), std::string::npos) << msg;
    EXPECT_NE(msg.find("non-finite"), std::string::npos) << msg;
  }
  // q8: the row header; rtn4: the offset.
  for (const char* type : {"q8", "rtn4"}) {
    const std::string out = rewrite(
        synth(type), std::string("bad-") + type + ".gguf", [](Metadata&) {},
        [&](const TensorInfo& t, std::vector<uint8_t>& b) {
          if (t.name != "blk.0.ffn_down.weight") return;
          if (t.type == find_format("q8")->id) {
            const float nan = NAN;
            std::memcpy(&b[*row_bytes(t.type, t.n_cols())], &nan, 4);  // row 1's scale
          } else {
            const uint16_t inf = 0x7c00;
            std::memcpy(&b[*row_bytes(t.type, t.n_cols()) + 2], &inf, 2);  // row 1's offset
          }
        });
    auto m = load_model(out);
    ASSERT_FALSE(m.ok()) << type;
    EXPECT_NE(m.status().to_string().find("row 1"), std::string::npos) << m.status().to_string();
  }
}

TEST_F(QuantModel, RotationSeedMustBePresentAndOurs) {
  const std::string src = synth("tq3g32");
  auto same = [](const TensorInfo&, std::vector<uint8_t>&) {};
  const std::string missing =
      rewrite(src, "no-seed.gguf", [](Metadata& m) { m.erase(kTqWeightSeedKey); }, same);
  auto m = load_model(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().to_string().find(kTqWeightSeedKey), std::string::npos)
      << m.status().to_string();
  const std::string other = rewrite(
      src, "other-seed.gguf",
      [](Metadata& m) { m.set(kTqWeightSeedKey, MetaValue::u64(12345)); }, same);
  m = load_model(other);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().to_string().find("0x3039"), std::string::npos) << m.status().to_string();
  // q8 / rtn4 files do not need it.
  EXPECT_TRUE(load_model(rewrite(synth("q8"), "q8.gguf", [](Metadata& m) { m.erase(kTqWeightSeedKey); }, same)).ok());
}

TEST_F(QuantModel, FractionalWeightsNeedAValidGroupMap) {
  const std::string src = synth("tq2.5g32");
  auto ok = load_model(src);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_NE((*ok)->layers[1].w_down.aux, nullptr);
  EXPECT_EQ(static_cast<const TqGroupMap*>((*ok)->layers[1].w_down.aux)->slot_group.size(), 4u);
  // Missing: the file without blk.1.ffn_down.tq_map.
  {
    auto mf = open_model(src);
    ASSERT_TRUE(mf.ok());
    std::vector<GgufTensorDecl> decls;
    for (const auto& t : mf->tensors)
      if (t.name != "blk.1.ffn_down.tq_map") decls.push_back({t.name, t.type, t.shape});
    const std::string out = (dir_ / "no-map.gguf").string();
    auto w = GgufWriter::create(out, mf->meta, decls);
    ASSERT_TRUE(w.ok());
    for (const auto& t : mf->tensors) {
      if (t.name != "blk.1.ffn_down.tq_map") {
        ASSERT_TRUE((*w)->write(t.data, t.n_bytes).ok());
      }
    }
    ASSERT_TRUE((*w)->finish().ok());
    auto m = load_model(out);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().to_string().find("group map 'blk.1.ffn_down.tq_map' is missing"),
              std::string::npos)
        << m.status().to_string();
  }
  // Not half of the groups wide.
  const std::string bad = rewrite(
      src, "bad-map.gguf", [](Metadata&) {},
      [](const TensorInfo& t, std::vector<uint8_t>& b) {
        if (t.name == "blk.0.ffn_down.tq_map") std::fill(b.begin(), b.end(), 1);
      });
  auto m = load_model(bad);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().to_string().find("blk.0.ffn_down.tq_map"), std::string::npos)
      << m.status().to_string();
  EXPECT_NE(m.status().to_string().find("exactly half"), std::string::npos)
      << m.status().to_string();
}

TEST_F(QuantModel, TruncatedFileIsRefused) {
  const std::string src = synth("tq4g64");
  const std::string cut = (dir_ / "cut.gguf").string();
  fs::copy_file(src, cut);
  fs::resize_file(cut, fs::file_size(cut) - 1000);
  auto m = load_model(cut);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().to_string().find("cut.gguf"), std::string::npos) << m.status().to_string();
}

}  // namespace
}  // namespace tq
