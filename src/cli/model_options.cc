#include "cli/model_options.h"

#include <fmt/format.h>

#include "cli/commands.h"
#include "runtime/kv_cache.h"

namespace tq::cli {

void add_model_args(CLI::App* cmd, ModelArgs* a, const std::string& ctx_help) {
  std::string kv_types;
  for (const auto& f : kv_formats())
    kv_types += (kv_types.empty() ? "" : ", ") + std::string(f.name);
  cmd->add_option("-m,--model", a->model, "Model: Hugging Face folder or .gguf file")->required();
  cmd->add_option("-c,--ctx", a->ctx, ctx_help);
  cmd->add_option("-b,--batch", a->batch, "Tokens per forward chunk in prefill")
      ->capture_default_str();
  cmd->add_option("--kv-k", a->kv_k, fmt::format("KV cache key type ({})", kv_types))
      ->capture_default_str();
  cmd->add_option("--kv-v", a->kv_v, fmt::format("KV cache value type ({})", kv_types))
      ->capture_default_str();
  add_threads_option(cmd, &a->threads);
}

SessionOptions session_options(const ModelArgs& a, int64_t ctx) {
  SessionOptions o;
  o.n_ctx = ctx;
  o.n_batch = a.batch;
  o.kv.k_type = a.kv_k;
  o.kv.v_type = a.kv_v;
  return o;
}

}  // namespace tq::cli
