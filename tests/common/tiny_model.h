// Tiny synthetic f32 models (model/synth.h presets tiny-llama3 / tiny-qwen2 / tiny-qwen3) written
// to a per-process temp folder and loaded (the quantizer's gradient tests, session limits).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "model/model.h"
#include "model/synth.h"
#include "scratch_dir.h"
#include "test_result.h"

namespace tq::testing {

inline std::unique_ptr<Model> tiny_model(const std::string& preset, bool gguf) {
  namespace fs = std::filesystem;
  const fs::path dir = testing::scratch_dir("tiny_model");
  SynthOptions o;
  o.preset = preset;
  o.type = TypeId::f32;
  o.out_dir = (dir / (preset + (gguf ? ".gguf" : ""))).string();
  o.progress = false;
  EXPECT_TRUE(synth_model(o).ok());
  auto m = load_model(o.out_dir);
  testing::ok_or_throw(m.status());
  return m.ok() ? std::move(*m) : nullptr;
}

}  // namespace tq::testing
