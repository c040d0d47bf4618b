// tq quantize -m IN -o OUT.gguf (--recipe R | --bpw B) [--calib FILE] [--method M]: a model (HF
// folder or GGUF) into one quantized GGUF file (quantize/pipeline.h), with a per-tensor summary.
#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/file_util.h"
#include "quantize/pipeline.h"

namespace tq::cli {
namespace {

struct Args {
  std::string model, out, recipe, method, calib, json;
  double bpw = 0;
  int64_t calib_windows = 128, calib_ctx = 512, sens_windows = 4;
  std::vector<double> sens_widths = tq::QuantizeOptions().sens_widths;
  std::string head_hot_rule = tq::head_hot_rule_name(tq::QuantizeOptions().head_hot_rule);
  bool no_head_hot_plans = false;
  std::vector<double> widths = tq::QuantizeOptions().widths;
  uint64_t seed = 0;
  int64_t tune_steps = 100, tune_windows = 32;
  double tune_lr = 2e-3;
  int64_t e2e_steps = tq::ModelTuneOptions().steps, e2e_batch = tq::ModelTuneOptions().batch_windows;
  int64_t e2e_windows = 0, e2e_holdout = tq::QuantizeOptions().e2e_holdout;
  double e2e_lr = tq::ModelTuneOptions().lr;
  int threads = 0;
  bool quiet = false, dequantized = false;
};

nlohmann::json report_json(const QuantizeReport& r) {
  nlohmann::json j;
  j["recipe"] = r.recipe;
  j["method"] = r.method;
  j["n_params"] = r.n_params;
  j["bits_per_weight"] = r.bpw;
  j["file_bytes"] = r.file_bytes;
  j["seconds"] = {{"calibration", r.calib_s}, {"sensitivity", r.sens_s},
                  {"quantization", r.quant_s}, {"block_tuning", r.tune_s},
                  {"end_to_end_tuning", r.e2e_s}, {"total", r.total_s}};
  if (!std::isnan(r.predicted_dkld)) j["predicted_dkld"] = r.predicted_dkld;
  for (const auto& t : r.tensors) {
    nlohmann::json x = {{"name", t.name}, {"type", t.type}, {"bits_per_weight", t.bpw},
                        {"weight_error", t.weight_err}, {"seconds", t.seconds}};
    if (!std::isnan(t.output_err)) x["output_error"] = t.output_err;
    if (!std::isnan(t.dkld)) x["predicted_dkld"] = t.dkld;
    j["tensors"].push_back(x);
  }
  if (r.e2e)
    j["e2e"] = {{"kld_before", r.e2e->kld_before}, {"kld_tuned", r.e2e->kld_tuned},
                {"holdout_before", r.e2e->holdout_before}, {"holdout_tuned", r.e2e->holdout_tuned},
                {"kept", r.e2e->kept}, {"windows", r.e2e->n_windows},
                {"holdout_windows", r.e2e->n_holdout}, {"tuned", r.e2e->n_tuned},
                {"fixed", r.e2e->n_fixed}, {"multipliers", r.e2e->n_multipliers},
                {"seconds", r.e2e->seconds}};
  for (const auto& b : r.tune)
    j["block_tuning"].push_back({{"loss_before", b.loss_before}, {"loss_after", b.loss_after},
                                 {"kept", b.kept}, {"seconds", b.seconds}});
  return j;
}

Status run(const Args& a) {
  apply_threads(a.threads);
  TQ_RETURN_IF_ERROR(check_output_file(a.out, "-o"));
  if (!a.json.empty()) TQ_RETURN_IF_ERROR(check_output_file(a.json, "--json"));
  QuantizeOptions opt;
  if (!a.recipe.empty() == (a.bpw > 0))
    return invalid_argument("give exactly one of --recipe R or --bpw B");
  TQ_ASSIGN_OR_RETURN(opt.recipe, parse_recipe(a.recipe.empty() ? fmt::format("bpw={}", a.bpw) : a.recipe));
  const std::string method = !a.method.empty() ? a.method : (a.calib.empty() ? "datafree" : "full");
  TQ_ASSIGN_OR_RETURN(opt.method, parse_method(method));
  if ((opt.method.needs_calibration() || recipe_needs_calibration(opt.recipe)) && a.calib.empty())
    return invalid_argument("method '{}' with recipe '{}' needs calibration text: --calib FILE "
                            "(e.g. a training text; never the evaluation text)",
                            method, to_string(opt.recipe));
  opt.calib.text_path = a.calib;
  opt.calib.n_windows = a.calib_windows;
  opt.calib.n_ctx = a.calib_ctx;
  opt.calib.seed = a.seed;
  opt.calib.progress = !a.quiet;
  opt.sens_windows = a.sens_windows;
  opt.sens_widths = a.sens_widths;
  opt.widths = a.widths;
  if (a.no_head_hot_plans) opt.head_hot_fractions.clear();
  opt.head_hot_rule = a.head_hot_rule == "prob" ? HeadHotRule::kPredicted : HeadHotRule::kFrequency;
  opt.tune.steps = a.tune_steps;
  opt.tune.lr = a.tune_lr;
  opt.tune.seed = a.seed;
  opt.tune_windows = a.tune_windows;
  opt.e2e.steps = a.e2e_steps;
  opt.e2e.lr = a.e2e_lr;
  opt.e2e.batch_windows = a.e2e_batch;
  opt.e2e_windows = a.e2e_windows;
  opt.e2e_holdout = a.e2e_holdout;
  opt.e2e.seed = a.seed;
  opt.dequantized_output = a.dequantized;
  opt.progress = !a.quiet;
  TQ_ASSIGN_OR_RETURN(auto model, load_model(a.model));
  std::fprintf(stderr, "%s: %s\n", a.model.c_str(), model->hp.to_string().c_str());
  TQ_ASSIGN_OR_RETURN(QuantizeReport r, quantize_model(*model, a.out, opt));
  if (!a.quiet) std::printf("%s\n", r.summary().c_str());
  std::printf("wrote %s: %.2f MB, %.4f bits/weight, recipe %s, method %s, %.1f s\n", a.out.c_str(),
              r.file_bytes / 1e6, r.bpw, r.recipe.c_str(), r.method.c_str(), r.total_s);
  if (!a.json.empty()) TQ_RETURN_IF_ERROR(write_file_atomic(a.json, report_json(r).dump(1)));
  return ok_status();
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a model into one GGUF file (TurboQuant)");
  cmd->add_option("-m,--model", a->model, "Model: Hugging Face folder or .gguf file")->required();
  cmd->add_option("-o,--out", a->out, "Output .gguf file (written atomically)")->required();
  cmd->add_option("--recipe", a->recipe,
                  "Formats per tensor, e.g. tq4 | \"tq3;attn_v=tq5;ffn_down=tq4\" | rtn4 | gptq4 | q8");
  cmd->add_option("--bpw", a->bpw,
                  "Mixed precision: per-tensor widths chosen to fit this many bits per weight "
                  "(all tensors counted)")
      ->check(real_range(1, 16));
  cmd->add_option("--method", a->method,
                  "datafree | full (= gptq+lsq+adam) | steps joined by '+': gptq, lsq, adam, e2e, "
                  "norm, e.g. full+e2e (default: full with --calib, else datafree)");
  cmd->add_option("--calib", a->calib, "Calibration text file (never the evaluation text)");
  cmd->add_option("--calib-windows", a->calib_windows, "Calibration windows")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--calib-ctx", a->calib_ctx, "Tokens per calibration window")
      ->check(int_range(2, 1 << 20))->capture_default_str();
  cmd->add_option("--sens-windows", a->sens_windows,
                  "Windows for the per-tensor KLD sensitivity of --bpw plans")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--widths", a->widths,
                  "Candidate widths of --bpw plans (x.5 = the fractional format tq<x>.5)")
      ->delimiter(',')->check(real_range(2, 8))->capture_default_str();
  cmd->add_option("--sens-widths", a->sens_widths,
                  "Widths (among --widths) at which --bpw measures each tensor's KLD sensitivity; "
                  "the others are extrapolated by the weighted error")
      ->delimiter(',')->check(real_range(2, 8))->capture_default_str();
  cmd->add_option("--tune-steps", a->tune_steps, "Adam steps per block (method adam)")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_option("--tune-windows", a->tune_windows, "Calibration windows used by adam and e2e")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--tune-lr", a->tune_lr, "Adam learning rate on the scale multipliers")
      ->check(positive_real())->capture_default_str();
  cmd->add_option("--e2e-steps", a->e2e_steps, "Adam steps of the end-to-end scales (method e2e)")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_option("--e2e-lr", a->e2e_lr, "Learning rate of the end-to-end scales")
      ->check(positive_real())->capture_default_str();
  cmd->add_option("--e2e-batch", a->e2e_batch, "Windows per end-to-end step")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--e2e-windows", a->e2e_windows,
                  "Calibration windows the end-to-end scales tune on (0: all but the held-out ones)")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_option("--e2e-holdout", a->e2e_holdout,
                  "Last calibration windows (at most a quarter) that decide whether the end-to-end "
                  "scales are kept")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_flag("--no-head-hot-plans", a->no_head_hot_plans,
                "--bpw plans give an untied output head no hot rows (as before they existed)");
  cmd->add_option("--head-hot-rows", a->head_hot_rule,
                  "Tokens of an untied output head's hot rows (+h<K>): freq = the most frequent in "
                  "the calibration text, prob = the largest mean predicted probability of the source")
      ->check(CLI::IsMember({"freq", "prob"}))->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the calibration windows and minibatches")->capture_default_str();
  cmd->add_option("--json", a->json, "Write the per-tensor report as JSON here");
  cmd->add_flag("--dequantized", a->dequantized,
                "Debug: store the dequantized values as f32 (same quality, no size gain)");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress bar or per-tensor table");
  add_threads_option(cmd, &a->threads);
  cmd->callback([a] { exit_on_error(run(*a)); });
}

}  // namespace tq::cli
