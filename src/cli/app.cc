// The tq command line as a whole: every subcommand registered on one CLI::App, and the one place
// that turns parse errors, command failures and stray exceptions into a message and an exit code
// (main.cc, the CLI tests and the argument-parser fuzz target all go through here).
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

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
  cmd->add_option("-t,--threads", *threads, "Worker threads (0 = all cores)")
      ->check(int_range(0, kMaxThreads));
}

void apply_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

void add_commands(CLI::App& app, bool run_actions) {
  app.require_subcommand(1);
  app.fallthrough();  // --simd after the subcommand name too
  app.set_version_flag("--version", std::string(TQ_VERSION) + " (" + TQ_GIT_DESCRIBE + ")");
  // Which SIMD target the kernels use (default: the best this CPU supports; core/simd.h).
  auto simd = std::make_shared<std::string>();
  app.add_option("--simd", *simd,
                 "Cap the SIMD target, e.g. avx2 or avx2+vnni on an AVX-512 machine (or "
                 "TQ_SIMD=<target>, applied before main)");
  // Runs once the whole command line is parsed and validated, before the command's action.
  app.parse_complete_callback([simd, run_actions] {
    if (!simd->empty()) exit_on_error(set_simd_target(*simd).with_context("--simd"));
    if (!run_actions) throw CLI::Success();  // parse and validate only
  });
  add_version_command(app);
  add_tokenize_command(app);
  add_convert_command(app);
  add_inspect_command(app);
  add_codec_report_command(app);
  add_codec_roundtrip_command(app);
  add_synth_command(app);
  add_bench_command(app);
  add_run_command(app);
  add_chat_command(app);
  add_perplexity_command(app);
  add_quantize_command(app);
  add_eval_command(app);
}

int run_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // exit_on_error: the message is printed
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Bad command line: unknown options, missing or invalid values (validate.h).
    std::fprintf(stderr, "tq: %s\nRun 'tq %s--help' for the options.\n", e.what(),
                 app.get_subcommands().empty()
                     ? ""
                     : (app.get_subcommands().front()->get_name() + " ").c_str());
    return 2;
  } catch (const std::exception& e) {  // a bug: say so instead of std::terminate's abort
    std::fprintf(stderr, "tq: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace tq::cli
