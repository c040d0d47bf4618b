// Synthetic models: the exact tensor shapes and config of a real architecture (Llama-3.2-1B,
// Llama-3-8B, Qwen2.5-0.5B, Qwen3-0.6B) with seeded random weights, written as a Hugging Face folder
// (config.json + safetensors + a byte-level tokenizer.json of the right vocabulary size) or, for an
// output path ending in .gguf, as GGUF (through tq convert's writer). For speed and memory
// measurements at real sizes (DESIGN.md §5); the text they produce is meaningless. The presets
// tiny-llama3 / tiny-qwen2 / tiny-qwen3 are few-KB models of each architecture variant for tests.
//
// Weights: linear layers N(0, 1/fan_in) (activations keep unit scale through the layers), token
// embedding N(0, 0.02²), norm weights 1 + N(0, 0.05²), biases N(0, 0.02²). Each row comes from its
// own seeded stream, so the output is identical for any thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tq/status.h"
#include "tq/types.h"

namespace tq {

struct SynthOptions {
  std::string preset;          // one of synth_preset_names()
  int64_t n_layers = 0;        // 0 = the preset's layer count
  // f32, f16 or bf16 for the matrices (norms and biases too); for a .gguf output also any type
  // `tq convert` writes (e.g. tq4g128, q8_0): bf16 weights quantized data-free.
  TypeId type = TypeId::bf16;
  uint64_t seed = 1;
  std::string out_dir;  // a folder (created if absent; files replaced atomically) or a *.gguf path
  int64_t max_shard_bytes = int64_t{5} << 30;  // sharded (with an index) above this size
  bool progress = true;
};

std::vector<std::string> synth_preset_names();

// Writes the folder (or GGUF file). Errors: unknown preset (lists the known ones), unsupported
// type, I/O. Returns the total bytes of tensor data written.
Result<int64_t> synth_model(const SynthOptions& opts);

}  // namespace tq
