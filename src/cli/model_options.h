// Options shared by the commands that run a model (run, perplexity, bench): model path, threads,
// context, batch and the KV cache plan, turned into SessionOptions.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "runtime/session.h"

namespace tq::cli {

// The KV cache choices (docs: README "KV cache").
struct KvArgs {
  std::string k = "f16", v = "f16";  // --kv-k / --kv-v
  std::string layers;                // --kv-layers "0,-1=q8;2-3=tq4/tq3"
  std::string plan;                  // --kv "tq3.5;0=tq4.5" or "auto" (overrides --kv-k/--kv-v/--kv-layers)
  std::string calib;                 // --kv-calib weights|random|FILE (outlier-split types)
  int64_t calib_tokens = 8192;       // --kv-calib-tokens
  std::string budget = "8GiB";       // --kv-budget
};

struct ModelArgs {
  std::string model;
  int threads = 0;
  int64_t ctx = 0;  // 0: the command's default
  int64_t batch = 256;
  KvArgs kv;
  std::string device = "cpu";
};

// Adds --device (cpu | cuda[:N]): the backend the model runs on.
void add_device_option(CLI::App* cmd, std::string* device);

// Adds --kv-k, --kv-v, --kv-layers, --kv, --kv-calib, --kv-calib-tokens, --kv-budget.
void add_kv_args(CLI::App* cmd, KvArgs* a);
// Adds -m, -t, --ctx, --batch, --device and the KV options. `ctx_help` describes the command's --ctx default.
void add_model_args(CLI::App* cmd, ModelArgs* a, const std::string& ctx_help);

// The KV config of the arguments for a session of n_ctx positions (0: session_context's default),
// with channel statistics from --kv-calib when given (else the session derives them from the
// weights when a type needs them). `--kv auto` picks the type here (choose_kv_type, printed to
// stderr). Errors: bad plan or type names, unreadable calibration text, no type fits the budget.
Result<KvCacheConfig> kv_config(const KvArgs& a, const Model& model, int64_t n_ctx);
// Parses --kv-budget.
Result<int64_t> kv_budget_bytes(const KvArgs& a);

Result<SessionOptions> session_options(const ModelArgs& a, int64_t ctx, const Model& model);

}  // namespace tq::cli
