#include "cli/model_options.h"

#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_channel_stats.h"
#include "runtime/kv_plan.h"

namespace tq::cli {

void add_kv_args(CLI::App* cmd, KvArgs* a) {
  std::string kv_types;
  for (const auto& f : kv_formats())
    kv_types += (kv_types.empty() ? "" : ", ") + std::string(f.name);
  cmd->add_option("--kv-k", a->k, fmt::format("KV cache key type ({})", kv_types))
      ->capture_default_str();
  cmd->add_option("--kv-v", a->v, fmt::format("KV cache value type ({})", kv_types))
      ->capture_default_str();
  cmd->add_option("--kv-layers", a->layers,
                  "Per-layer KV types, e.g. \"0,-1=q8;2-3=tq4/tq3\" (LAYERS=TYPE or "
                  "LAYERS=KEY/VALUE; -1 = last layer)");
  cmd->add_option("--kv", a->plan,
                  "Whole KV plan in one string, e.g. \"tq3.5;0=tq4.5\" (replaces --kv-k, --kv-v, "
                  "--kv-layers), or 'auto': the most accurate single type whose cache of --ctx "
                  "positions fits --kv-budget");
  cmd->add_option("--kv-calib", a->calib,
                  "Statistics for the outlier-split (tq2.5, tq3.5, tq4.5) and transform-coded (tqw*) "
                  "KV types: a calibration text file (recommended for tqw*), or 'weights' "
                  "(data-free, the default) or 'random'");
  cmd->add_option("--kv-calib-tokens", a->calib_tokens,
                  "Tokens of the calibration text to run (windows of 512)")
      ->check(positive_int())
      ->capture_default_str();
  cmd->add_option("--kv-budget", a->budget,
                  "KV memory budget: the longest context that fits it is reported, and --kv auto "
                  "chooses by it (e.g. 8GiB, 512MiB, 1.5GB)")
      ->capture_default_str();
}

void add_model_args(CLI::App* cmd, ModelArgs* a, const std::string& ctx_help) {
  cmd->add_option("-m,--model", a->model, "Model: Hugging Face folder or .gguf file")->required();
  cmd->add_option("-c,--ctx", a->ctx, ctx_help)->check(int_range(2));
  cmd->add_option("-b,--batch", a->batch, "Tokens per forward chunk in prefill")
      ->check(int_range(1, 65536))
      ->capture_default_str();
  add_kv_args(cmd, &a->kv);
  add_threads_option(cmd, &a->threads);
}

Result<KvCacheConfig> kv_config(const KvArgs& a, const Model& model, int64_t n_ctx) {
  KvPlan plan;
  if (a.plan == "auto") {
    TQ_ASSIGN_OR_RETURN(const int64_t budget, kv_budget_bytes(a));
    const HParams& hp = model.hp;
    const bool calibrated = !a.calib.empty() && a.calib != "weights" && a.calib != "random";
    const int64_t positions = session_context(hp, n_ctx);
    TQ_ASSIGN_OR_RETURN(plan.k_type, choose_kv_type(kv_auto_ladder(calibrated), hp.n_layer,
                                                    hp.n_head_kv, hp.head_dim, positions, budget));
    plan.v_type = plan.k_type;
    std::fprintf(stderr, "KV auto: %s, the most accurate type whose cache of %lld positions fits %s%s\n",
                 plan.k_type.c_str(), static_cast<long long>(positions),
                 format_bytes(static_cast<double>(budget)).c_str(),
                 calibrated || plan.k_type == "f16" ? "" : " (--kv-calib TEXT selects the calibrated tqw* types)");
  } else if (!a.plan.empty()) {
    TQ_ASSIGN_OR_RETURN(plan, parse_kv_plan(a.plan));
  } else {
    TQ_ASSIGN_OR_RETURN(plan, parse_kv_plan(a.k == a.v ? a.k : a.k + "/" + a.v));
    TQ_ASSIGN_OR_RETURN(plan.items, parse_kv_layers(a.layers));
  }
  KvCacheConfig cfg;
  apply_kv_plan(plan, &cfg);
  TQ_ASSIGN_OR_RETURN(KvLayerFormats f, resolve_kv_formats(model.hp.n_layer, cfg));
  if (kv_needs_channel_stats(f)) {
    TQ_ASSIGN_OR_RETURN(cfg.channel_stats,
                        kv_channel_stats_from_source(model, a.calib.empty() ? "weights" : a.calib,
                                                     a.calib_tokens, kv_needs_covariance(f)));
  }
  return cfg;
}

Result<int64_t> kv_budget_bytes(const KvArgs& a) {
  return parse_byte_size(a.budget);
}

Result<SessionOptions> session_options(const ModelArgs& a, int64_t ctx, const Model& model) {
  SessionOptions o;
  o.n_ctx = ctx;
  o.n_batch = a.batch;
  TQ_ASSIGN_OR_RETURN(o.kv, kv_config(a.kv, model, ctx));
  return o;
}

}  // namespace tq::cli
