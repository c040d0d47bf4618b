// tq eval -m MODEL --methods "..." -f TEXT: the weight-quantization comparison table
// (eval/weight_eval.h) as markdown on stdout (and --md / --json files).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include <set>

#include "cli/commands.h"
#include "core/file_util.h"
#include "eval/weight_eval.h"

namespace tq::cli {
namespace {

constexpr int kExitUnfinished = 3;  // --max-seconds stopped the run before the last row

struct Args {
  std::string model, text, methods = "base,q8,rtn4,gptq4,tq4@datafree,tq4,tq3,tq2,bpw=3,bpw=2.5";
  std::string method = "full", calib, work_dir, json, md, anchors, anchor_model;
  bool anchor_rows = false, keep = false, quiet = false, resume = false;
  double max_seconds = 0;
  int64_t ctx = 512, ppl_windows = 400, kld_windows = 50, calib_windows = 128;
  int64_t n_gen = 64, tune_steps = 100, sens_windows = 4;
  int64_t e2e_steps = tq::ModelTuneOptions().steps, e2e_windows = 0;
  double e2e_lr = tq::ModelTuneOptions().lr;
  std::vector<double> sens_widths = tq::QuantizeOptions().sens_widths;
  std::string head_hot_rule = tq::head_hot_rule_name(tq::QuantizeOptions().head_hot_rule);
  bool no_head_hot_plans = false;
  std::vector<double> widths = tq::QuantizeOptions().widths;
  int reps = 3, threads = 0;
  uint64_t seed = 0;
};

Status run(Args& a) {
  apply_threads(a.threads);
  if (!a.md.empty()) TQ_RETURN_IF_ERROR(check_output_file(a.md, "--md"));
  if (!a.json.empty()) TQ_RETURN_IF_ERROR(check_output_file(a.json, "--json"));
  if (!a.work_dir.empty()) TQ_RETURN_IF_ERROR(check_output_folder(a.work_dir, "--work-dir"));
  WeightEvalOptions o;
  o.model_path = a.model;
  o.text_path = a.text;
  o.n_ctx = a.ctx;
  o.ppl_windows = a.ppl_windows;
  o.kld_windows = a.kld_windows;
  o.work_dir = !a.work_dir.empty() ? a.work_dir
                                   : (std::filesystem::temp_directory_path() /
                                      fmt::format("tq_eval_{}", ::getpid())).string();
  o.keep_files = a.keep;
  o.resume = a.resume;
  o.max_seconds = a.max_seconds;
  if ((a.resume || a.max_seconds > 0) && a.work_dir.empty())
    return invalid_argument("--resume / --max-seconds need --work-dir (where the rows are kept)");
  o.progress = !a.quiet;
  o.quant.calib.text_path = a.calib;
  o.quant.calib.n_windows = a.calib_windows;
  o.quant.calib.n_ctx = a.ctx;
  o.quant.calib.seed = a.seed;
  o.quant.tune.steps = a.tune_steps;
  o.quant.sens_windows = a.sens_windows;
  o.quant.sens_widths = a.sens_widths;
  o.quant.widths = a.widths;
  if (a.no_head_hot_plans) o.quant.head_hot_fractions.clear();
  o.quant.head_hot_rule =
      a.head_hot_rule == "prob" ? HeadHotRule::kPredicted : HeadHotRule::kFrequency;
  o.quant.tune.seed = a.seed;
  o.quant.e2e.steps = a.e2e_steps;
  o.quant.e2e.lr = a.e2e_lr;
  o.quant.e2e_windows = a.e2e_windows;
  o.quant.e2e.seed = a.seed;
  o.bench.n_prompt = 1;
  o.bench.n_gen = a.n_gen;
  o.bench.reps = a.reps;
  if (!a.anchors.empty()) {
    const std::string name = !a.anchor_model.empty()
                                 ? a.anchor_model
                                 : std::filesystem::path(a.model).filename().string();
    TQ_ASSIGN_OR_RETURN(o.anchors, read_anchor_table(a.anchors, name));
  }
  std::string methods = a.methods;
  if (a.anchor_rows) {
    std::set<double> seen;
    for (const auto& an : o.anchors)
      if (an.bpw < 16 && seen.insert(an.bpw).second)
        methods += fmt::format(",{}", fmt::format("bpw={}", an.bpw));
  }
  TQ_ASSIGN_OR_RETURN(auto rows, parse_eval_rows(methods, a.method));
  for (const auto& r : rows)
    if (r.recipe != "base" && a.calib.empty()) {
      auto m = parse_method(r.method);
      const bool mixed = !eval_row_size_of(r.recipe).empty();  // bpw=like(...): a --bpw plan
      auto rec = parse_recipe(r.recipe);
      if ((m.ok() && m->needs_calibration()) || mixed || (rec.ok() && recipe_needs_calibration(*rec)))
        return invalid_argument("row '{}' needs calibration text: --calib FILE", r.label);
    }
  TQ_ASSIGN_OR_RETURN(auto results, run_weight_eval(o, rows));
  if (results.size() < rows.size()) {
    std::fprintf(stderr, "tq eval: %zu of %zu rows done in %s; run again with --resume to continue\n",
                 results.size(), rows.size(), o.work_dir.c_str());
    std::exit(kExitUnfinished);
  }
  std::string md = weight_eval_markdown(o, results);
  const std::string targets = weight_eval_targets(o, results);
  if (!targets.empty()) md += "\nTargets (KLD over the first " + std::to_string(o.kld_windows) + " windows):\n\n" + targets;
  std::printf("%s", md.c_str());
  if (!a.md.empty()) TQ_RETURN_IF_ERROR(write_file_atomic(a.md, md));
  if (!a.json.empty()) TQ_RETURN_IF_ERROR(write_file_atomic(a.json, weight_eval_json(o, results).dump(1)));
  return ok_status();
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "eval", "Quantize a model several ways and compare size, PPL, KLD and decode speed");
  cmd->add_option("-m,--model", a->model, "Source model (HF folder or .gguf): the base row")->required();
  cmd->add_option("-f,--file", a->text, "Evaluation text (tokenized whole)")->required();
  cmd->add_option("--methods", a->methods,
                  "Rows, comma-separated: [LABEL:]RECIPE[@METHOD]; 'base' = the source model; "
                  "RECIPE bpw=like(LABEL) = a mixed plan at the size of the earlier row LABEL")
      ->capture_default_str();
  cmd->add_option("--method", a->method, "Method of rows that name none")->capture_default_str();
  cmd->add_option("--calib", a->calib, "Calibration text (never the evaluation text)");
  cmd->add_option("--calib-windows", a->calib_windows, "Calibration windows")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("-c,--ctx", a->ctx, "Window length (evaluation and calibration)")
      ->check(int_range(2, 1 << 20))->capture_default_str();
  cmd->add_option("--ppl-windows", a->ppl_windows, "Windows for PPL")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--kld-windows", a->kld_windows, "First windows for KLD / top-1")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--anchors", a->anchors, "llama.cpp anchor file (LLAMACPP-WEIGHTS.md)");
  cmd->add_option("--anchor-model", a->anchor_model, "Model name in the anchor file (default: the folder name)");
  cmd->add_flag("--anchor-rows", a->anchor_rows, "Add a bpw=B row for each anchor's bits per weight");
  cmd->add_option("-n,--gen-tokens", a->n_gen, "Decode test length")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("-r,--reps", a->reps, "Decode test repetitions")
      ->check(int_range(1, 1000000))->capture_default_str();
  cmd->add_option("--tune-steps", a->tune_steps, "Adam steps per block (method adam)")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_option("--sens-windows", a->sens_windows, "Windows for the KLD sensitivity of bpw= rows")
      ->check(positive_int())->capture_default_str();
  cmd->add_option("--widths", a->widths, "Candidate widths of bpw= rows (x.5 = tq<x>.5)")
      ->delimiter(',')->check(real_range(2, 8))->capture_default_str();
  cmd->add_option("--sens-widths", a->sens_widths, "Widths at which bpw= rows measure the KLD sensitivity")
      ->delimiter(',')->check(real_range(2, 8))->capture_default_str();
  cmd->add_option("--e2e-steps", a->e2e_steps, "Adam steps of the end-to-end scales (method e2e)")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_option("--e2e-lr", a->e2e_lr, "Learning rate of the end-to-end scales")
      ->check(positive_real())->capture_default_str();
  cmd->add_option("--e2e-windows", a->e2e_windows,
                  "Calibration windows the end-to-end scales tune on (0: all but the 16 held-out ones)")
      ->check(non_negative_int())->capture_default_str();
  cmd->add_flag("--no-head-hot-plans", a->no_head_hot_plans,
                "--bpw plans give an untied output head no hot rows (as before they existed)");
  cmd->add_option("--head-hot-rows", a->head_hot_rule,
                  "Tokens of an untied output head's hot rows (+h<K>): freq = the most frequent in "
                  "the calibration text, prob = the largest mean predicted probability of the source")
      ->check(CLI::IsMember({"freq", "prob"}))->capture_default_str();
  cmd->add_option("--seed", a->seed, "Calibration seed")->capture_default_str();
  cmd->add_option("--work-dir", a->work_dir, "Folder for the quantized files (default: a temp folder)");
  cmd->add_flag("--keep", a->keep, "Keep the quantized files");
  cmd->add_flag("--resume", a->resume,
                "Reuse the rows an earlier run with the same --work-dir and options measured");
  cmd->add_option("--max-seconds", a->max_seconds,
                  "Start no new row after this many seconds; exit status 3 = not finished (with "
                  "--resume, run again to continue)")
      ->check(real_range(0, 1e9));
  cmd->add_option("--json", a->json, "Write the rows as JSON here");
  cmd->add_option("--md", a->md, "Write the markdown table here");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress bars");
  add_threads_option(cmd, &a->threads);
  cmd->callback([a] { exit_on_error(run(*a)); });
}

}  // namespace tq::cli
