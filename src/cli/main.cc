#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "core/parallel.h"
#include "core/simd.h"

namespace tq::cli {

void exit_on_error(const Status& st) {
  if (st.ok()) return;
  std::fprintf(stderr, "tq: %s\n", st.to_string().c_str());
  throw CLI::RuntimeError(st.code() == StatusCode::kInvalidArgument ? 2 : 1);
}

void add_threads_option(CLI::App* cmd, int* threads) {
  cmd->add_option("-t,--threads", *threads, "Worker threads (0 = all cores)")->check(CLI::NonNegativeNumber);
}

void apply_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

}  // namespace tq::cli

int main(int argc, char** argv) {
  // libgomp reads OMP_WAIT_POLICY when it loads, before main(). Unless the user chose, re-execute
  // once with PASSIVE: idle workers then sleep instead of spinning, which on a shared or loaded
  // machine starves the thread still working (decode measured 3-6x slower with spinning workers).
  if (!std::getenv("OMP_WAIT_POLICY") && ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
    ::execv("/proc/self/exe", argv);  // returns only on failure: continue as we are
  CLI::App app{"tq — TurboQuant: compress LLMs (weights, KV cache) and run them compressed"};
  app.require_subcommand(1);
  app.fallthrough();  // --simd after the subcommand name too
  app.set_version_flag("--version", std::string(TQ_VERSION) + " (" + TQ_GIT_DESCRIBE + ")");
  // Which SIMD target the kernels use (default: the best this CPU supports; core/simd.h).
  std::string simd;
  app.add_option("--simd", simd,
                 "Cap the SIMD target, e.g. avx2 on an AVX-512 machine (also TQ_SIMD=<target>)")
      ->envname("TQ_SIMD");
  app.parse_complete_callback([&] {
    if (!simd.empty()) tq::cli::exit_on_error(tq::set_simd_target(simd).with_context("--simd"));
  });
  tq::cli::add_version_command(app);
  tq::cli::add_tokenize_command(app);
  tq::cli::add_convert_command(app);
  tq::cli::add_inspect_command(app);
  tq::cli::add_codec_report_command(app);
  tq::cli::add_codec_roundtrip_command(app);
  tq::cli::add_synth_command(app);
  tq::cli::add_bench_command(app);
  tq::cli::add_run_command(app);
  tq::cli::add_chat_command(app);
  tq::cli::add_perplexity_command(app);
  tq::cli::add_quantize_command(app);
  tq::cli::add_eval_command(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
