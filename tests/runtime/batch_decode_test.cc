// BatchDecoder (continuous batching's decode step) against separate sessions: N sequences with
// different prompts, KV types and positions decoded one token each in one forward must give the
// logits each would get alone, to float rounding: N rows run the GEMM kernels and one row the GEMV
// kernels, which sum in a different order (measured: 2–4e-7 on f32 weights, 7e-7 on q8 weights,
// logits up to 0.6 / 4.4), not bit for bit.
// Also: the errors, and the device option of the backend layer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "formats/format.h"
#include "model/synth.h"
#include "runtime/backend.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

std::unique_ptr<Model> synth(const std::string& preset, TypeId type, bool gguf) {
  const fs::path dir = fs::temp_directory_path() / ("tq_batch_test_" + std::to_string(::getpid()));
  SynthOptions o;
  o.preset = preset;
  o.type = type;
  o.out_dir = (dir / (preset + std::string(type_name(type)) + (gguf ? ".gguf" : ""))).string();
  o.progress = false;
  EXPECT_TRUE(synth_model(o).ok());
  auto m = load_model(o.out_dir);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::move(*m) : nullptr;
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 72, 101, 108, 108, 111}, {5, 17}, {300, 250, 42, 7, 99, 100, 101, 102, 103, 104, 9}};
const char* kKv[] = {"f16", "tq4", "f32"};  // each sequence its own cache type
constexpr int kSteps = 5;

std::unique_ptr<Session> open_session(const Model& m, size_t i) {
  SessionOptions so;
  so.n_ctx = 32;
  so.kv.k_type = so.kv.v_type = kKv[i];
  auto s = Session::create(m, so);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE((*s)->eval(kPrompts[i]).ok());
  return std::move(*s);
}

// Max |batched − alone| over every step and sequence (and whether every bit agreed).
void compare(const Model& m, double* max_diff, double* max_abs, bool* identical) {
  const size_t N = kPrompts.size();
  // Alone: each sequence decodes its greedy continuation; the tokens are recorded.
  std::vector<std::vector<int32_t>> tokens(N);
  std::vector<std::vector<std::vector<float>>> alone(N);
  for (size_t i = 0; i < N; ++i) {
    auto s = open_session(m, i);
    for (int step = 0; step < kSteps; ++step) {
      const int32_t t = argmax(s->last_logits());
      tokens[i].push_back(t);
      ASSERT_TRUE(s->eval(std::vector<int32_t>{t}).ok());
      alone[i].emplace_back(s->last_logits().begin(), s->last_logits().end());
    }
  }
  std::vector<std::unique_ptr<Session>> owned;
  std::vector<Session*> ss;
  for (size_t i = 0; i < N; ++i) {
    owned.push_back(open_session(m, i));
    ss.push_back(owned.back().get());
  }
  auto dec = BatchDecoder::create(m, static_cast<int64_t>(N));
  ASSERT_TRUE(dec.ok()) << dec.status().to_string();
  *max_diff = 0, *max_abs = 0, *identical = true;
  for (int step = 0; step < kSteps; ++step) {
    std::vector<int32_t> t;
    for (size_t i = 0; i < N; ++i) t.push_back(tokens[i][step]);
    ASSERT_TRUE((*dec)->decode(ss, t).ok());
    for (size_t i = 0; i < N; ++i) {
      ASSERT_EQ(ss[i]->n_past(), static_cast<int64_t>(kPrompts[i].size()) + step + 1);
      const auto got = ss[i]->last_logits();
      ASSERT_EQ(got.size(), alone[i][step].size());
      for (size_t v = 0; v < got.size(); ++v) {
        *max_diff = std::max(*max_diff, std::fabs(static_cast<double>(got[v]) - alone[i][step][v]));
        *max_abs = std::max(*max_abs, std::fabs(static_cast<double>(alone[i][step][v])));
        if (got[v] != alone[i][step][v]) *identical = false;
      }
    }
  }
}

TEST(BatchDecode, QuantizedWeightsEqualSeparateDecodesToRounding) {
  auto m = synth("tiny-llama3", find_format("q8")->id, true);
  ASSERT_TRUE(m);
  double d = 0, a = 0;
  bool same = false;
  compare(*m, &d, &a, &same);
  std::printf("q8 weights: max |batched - alone| %.3g (logits up to %.3g)%s\n", d, a,
              same ? ", bit-identical" : "");
  EXPECT_LT(d, 1e-5 * std::max(1.0, a));
}

TEST(BatchDecode, FloatWeightsEqualSeparateDecodesToRounding) {
  for (const char* preset : {"tiny-qwen2", "tiny-qwen3"}) {
    auto m = synth(preset, TypeId::f32, false);
    ASSERT_TRUE(m);
    double d = 0, a = 0;
    bool same = false;
    compare(*m, &d, &a, &same);
    std::printf("%s f32: max |batched - alone| %.3g (logits up to %.3g)%s\n", preset, d, a,
                same ? ", bit-identical" : "");
    EXPECT_LT(d, 1e-5 * std::max(1.0, a));
  }
}

TEST(BatchDecode, ErrorsLeaveSessionsUnchanged) {
  auto m = synth("tiny-qwen3", TypeId::f32, false);
  ASSERT_TRUE(m);
  auto a = open_session(*m, 0), b = open_session(*m, 1);
  auto dec = BatchDecoder::create(*m, 2);
  ASSERT_TRUE(dec.ok());
  const int64_t pa = a->n_past(), pb = b->n_past();
  Session* two[] = {a.get(), b.get()};
  Session* dup[] = {a.get(), a.get()};
  Session* three[] = {a.get(), b.get(), a.get()};
  const int32_t t2[] = {1, 2}, t3[] = {1, 2, 3}, bad[] = {1, 1 << 20};
  EXPECT_FALSE((*dec)->decode(two, std::span<const int32_t>(t3, 1)).ok());
  EXPECT_FALSE((*dec)->decode(dup, t2).ok());
  EXPECT_FALSE((*dec)->decode(three, t3).ok());
  auto st = (*dec)->decode(two, bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("outside the vocabulary"), std::string::npos) << st.message();
  EXPECT_EQ(a->n_past(), pa);
  EXPECT_EQ(b->n_past(), pb);
  // A full context: the session refuses, nothing moves.
  SessionOptions so;
  so.n_ctx = 2;
  auto full = Session::create(*m, so);
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE((*full)->eval(std::vector<int32_t>{1, 2}).ok());
  Session* with_full[] = {a.get(), full->get()};
  st = (*dec)->decode(with_full, t2);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("context"), std::string::npos) << st.message();
  EXPECT_EQ(a->n_past(), pa);
  EXPECT_TRUE((*dec)->decode(two, t2).ok());
  EXPECT_EQ(a->n_past(), pa + 1);
}

TEST(Backend, DevicesAndTheMissingCudaBackend) {
  auto cpu = make_backend("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ((*cpu)->name(), "cpu");
  for (const char* d : {"cuda", "cuda:1"}) {
    auto b = make_backend(d);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.status().message().find("this build has no CUDA backend"), std::string::npos)
        << b.status().message();
  }
  EXPECT_FALSE(make_backend("tpu").ok());
  auto m = synth("tiny-qwen3", TypeId::f32, false);
  ASSERT_TRUE(m);
  SessionOptions so;
  so.device = "cuda";
  auto s = Session::create(*m, so);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("no CUDA backend"), std::string::npos);
}

}  // namespace
}  // namespace tq
