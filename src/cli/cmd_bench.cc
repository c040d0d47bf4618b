// tq bench: prefill and decode speed of one or more models in one invocation, beside the measured
// memory bandwidth and the bandwidth bound of each (markdown on stdout, optional JSON / markdown
// files).
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/cpu.h"
#include "core/file_util.h"
#include "core/parallel.h"
#include "cli/model_options.h"
#include "core/simd.h"
#include "eval/bench.h"

namespace tq::cli {
namespace {

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a.empty() ? "?" : a + " " + b + " " + c;
}

std::string human_bytes(double b) {
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

std::string short_name(const std::string& path) {
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("bench", "Prefill and decode tokens/s beside the memory-bandwidth bound");
  struct Args {
    std::vector<std::string> models;
    int64_t n_prompt = 128, n_gen = 64;
    int reps = 5, threads = 0;
    int64_t bw_mib = 512;
    KvArgs kv;
    std::string json_path, md_path;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-m,--model", a->models,
                  "Model (HF folder or .gguf); repeat to compare in one run")
      ->required();
  cmd->add_option("-p,--prompt-tokens", a->n_prompt, "Prefill test length")
      ->check(positive_int())
      ->capture_default_str();
  cmd->add_option("-n,--gen-tokens", a->n_gen, "Decode test length")
      ->check(positive_int())
      ->capture_default_str();
  cmd->add_option("-r,--reps", a->reps, "Timed repetitions (after one warm-up)")
      ->check(int_range(1, 1000000))
      ->capture_default_str();
  add_kv_args(cmd, &a->kv);
  cmd->add_option("--bandwidth-mib", a->bw_mib, "Buffer for the read-bandwidth test (0: skip)")
      ->check(int_range(0, int64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--json", a->json_path, "Also write the results as JSON");
  cmd->add_option("--md", a->md_path, "Also write the markdown report to this file");
  add_threads_option(cmd, &a->threads);
  cmd->callback([a] {
    apply_threads(a->threads);
    if (!a->json_path.empty()) exit_on_error(check_output_file(a->json_path, "--json"));
    if (!a->md_path.empty()) exit_on_error(check_output_file(a->md_path, "--md"));
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    const std::string load_before = load_average();
    BenchOptions o;
    o.n_prompt = a->n_prompt;
    o.n_gen = a->n_gen;
    o.reps = a->reps;
    auto budget = kv_budget_bytes(a->kv);
    exit_on_error(budget.status());
    o.kv_budget_bytes = *budget;
    o.kv_for_model = [a](const Model& m) {
      return kv_config(a->kv, m, std::max(a->n_prompt, a->n_gen));  // the bench session's context
    };
    // STREAM-like reference beside each model (its result drifts with page placement on this
    // host: 45-75 GB/s); the bound itself uses the model's own weights (BenchResult).
    auto bandwidth = [&] {
      return a->bw_mib > 0 ? measure_read_bandwidth(a->bw_mib << 20).gb_per_s : 0.0;
    };
    std::vector<BenchResult> results;
    std::vector<std::pair<double, double>> bw;  // [model] (before, after)
    for (const auto& m : a->models) {
      std::fprintf(stderr, "bench %s ...\n", m.c_str());
      const double before = bandwidth();
      auto r = bench_model(m, o);
      exit_on_error(r.status());
      std::fprintf(stderr, "%s\n", r->kv_summary.c_str());
      results.push_back(std::move(*r));
      bw.emplace_back(before, bandwidth());
    }
    const std::string load_after = load_average();

    std::string md = fmt::format(
        "tq bench {} | {} | SIMD {} | {} threads | OMP_WAIT_POLICY={} | load avg before {} / after "
        "{}\n\n",
        TQ_GIT_DESCRIBE, cpu_summary(), simd_target(), num_threads(), wait ? wait : "(unset)",
        load_before, load_after);
    md += fmt::format(
        "| model | weights | params | tensor bytes | KV | KV B/token | ctx in {} | prefill t/s (p{}) | "
        "decode t/s (n{}) | bytes/token | weights read GB/s | bound t/s | % of bound | decode GB/s "
        "| STREAM GB/s before / after | decode vs first | prefill vs first |\n",
        a->kv.budget, a->n_prompt, a->n_gen);
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const BenchResult& r = results[i];
      const double bound = r.weights_read_gb_per_s * 1e9 / r.decode_bytes_per_token;
      md += fmt::format(
          "| {} | {} | {:.1f} M | {} | {} | {:.0f} | {} | {:.1f} ± {:.1f} | {:.2f} ± {:.2f} | {} | {:.1f} | "
          "{:.1f} | "
          "{:.0f}% | {:.1f} | {} | {:.2f}x | {:.2f}x |\n",
          short_name(r.path), r.weight_types, r.n_params / 1e6, human_bytes(r.file_bytes), r.kv,
          r.kv_bytes_per_token, r.kv_max_context, r.prefill_tps.mean, r.prefill_tps.sd, r.decode_tps.mean, r.decode_tps.sd,
          human_bytes(r.decode_bytes_per_token), r.weights_read_gb_per_s, bound,
          100 * r.decode_tps.mean / bound, r.decode_tps.mean * r.decode_bytes_per_token * 1e-9,
          a->bw_mib > 0 ? fmt::format("{:.1f} / {:.1f}", bw[i].first, bw[i].second) : "-",
          r.decode_tps.mean / results.front().decode_tps.mean,
          r.prefill_tps.mean / results.front().prefill_tps.mean);
    }
    md += fmt::format(
        "\nEach test: {} timed repetitions after one warm-up; prefill = one batch of {} tokens "
        "from "
        "an empty cache, decode = {} single-token steps from an empty cache (random token ids). "
        "bytes/token = every weight matrix once + one embedding row + the mean KV cache read. "
        "Weights read = the best of 5 passes summing the model's own mapped weight bytes with {} "
        "threads, right after its decode test; bound = that / bytes per token. STREAM = a sum over "
        "a fresh {} MiB buffer, best of 7, right before and after each model: on this host the "
        "bandwidth a buffer gets depends on where its pages land (45-75 GB/s seen), which is why "
        "the bound uses the weights' own pages.\n",
        a->reps, a->n_prompt, a->n_gen, num_threads(), a->bw_mib);
    std::printf("%s", md.c_str());
    if (!a->md_path.empty()) exit_on_error(write_file_atomic(a->md_path, md));
    if (!a->json_path.empty()) {
      nlohmann::ordered_json j;
      j["commit"] = TQ_GIT_DESCRIBE;
      j["machine"] = cpu_summary();
      j["isa"] = simd_target();
      j["threads"] = num_threads();
      j["omp_wait_policy"] = wait ? wait : "";
      j["load_avg_before"] = load_before;
      j["load_avg_after"] = load_after;
      j["bandwidth_buffer_bytes"] = a->bw_mib << 20;
      j["n_prompt"] = a->n_prompt;
      j["n_gen"] = a->n_gen;
      j["reps"] = a->reps;
      for (size_t i = 0; i < results.size(); ++i) {
        const BenchResult& r = results[i];
        const double bound = r.weights_read_gb_per_s * 1e9 / r.decode_bytes_per_token;
        j["models"].push_back(
            {{"path", r.path},
             {"arch", r.arch},
             {"weights", r.weight_types},
             {"n_params", r.n_params},
             {"tensor_bytes", r.file_bytes},
             {"kv", r.kv},
             {"kv_bytes_per_token", r.kv_bytes_per_token},
             {"kv_budget_bytes", o.kv_budget_bytes},
             {"kv_max_context", r.kv_max_context},
             {"weight_bytes_per_token", r.weight_bytes_per_token},
             {"decode_bytes_per_token", r.decode_bytes_per_token},
             {"load_seconds", r.load_seconds},
             {"prefill_tps_mean", r.prefill_tps.mean},
             {"prefill_tps_sd", r.prefill_tps.sd},
             {"prefill_tps", r.prefill_tps.samples},
             {"decode_tps_mean", r.decode_tps.mean},
             {"decode_tps_sd", r.decode_tps.sd},
             {"decode_tps", r.decode_tps.samples},
             {"weights_read_gb_per_s", r.weights_read_gb_per_s},
             {"stream_before_gb_per_s", bw[i].first},
             {"stream_after_gb_per_s", bw[i].second},
             {"decode_bound_tps", bound},
             {"decode_fraction_of_bound", bound > 0 ? r.decode_tps.mean / bound : 0.0},
             {"decode_vs_first", r.decode_tps.mean / results.front().decode_tps.mean},
             {"prefill_vs_first", r.prefill_tps.mean / results.front().prefill_tps.mean}});
      }
      exit_on_error(write_file_atomic(a->json_path, j.dump(2) + "\n"));
    }
  });
}

}  // namespace tq::cli
