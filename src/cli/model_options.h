// Options shared by the commands that run a model (run, perplexity): model path, threads, context,
// batch and KV cache types, turned into SessionOptions.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/session.h"

namespace tq::cli {

struct ModelArgs {
  std::string model;
  int threads = 0;
  int64_t ctx = 0;  // 0: the command's default
  int64_t batch = 256;
  std::string kv_k = "f16", kv_v = "f16";
};

// Adds -m, -t, --ctx, --batch, --kv-k, --kv-v. `ctx_help` describes the command's --ctx default.
void add_model_args(CLI::App* cmd, ModelArgs* a, const std::string& ctx_help);

SessionOptions session_options(const ModelArgs& a, int64_t ctx);

}  // namespace tq::cli
