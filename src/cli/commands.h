// One file per subcommand (STYLE.md §11). Each add_*_command registers its options and callback on
// the app; the callback turns a Status into a message on stderr and an exit code.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/validate.h"
#include "tq/status.h"

namespace tq::cli {

void add_version_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_codec_report_command(CLI::App& app);
void add_codec_roundtrip_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_eval_command(CLI::App& app);

// Registers every subcommand above and the global options (--simd, --version) on `app`.
// run_actions = false: parsing and validation only, no command runs (tests, the fuzz target of
// the parser; the actions' state stays alive, unlike replacing their callbacks).
void add_commands(CLI::App& app, bool run_actions = true);
// Parses argv and runs the chosen command; returns the exit status: 0, 1 (the command failed),
// 2 (a bad command line — unknown option, missing or invalid value — or an invalid argument),
// or a command's own code (tq eval: 3). A failure prints one "tq: ..." line to stderr first.
int run_command_line(CLI::App& app, int argc, const char* const* argv);

// Prints "tq: <status>" to stderr and throws CLI::RuntimeError(exit code) when !st.ok().
void exit_on_error(const Status& st);
// Most worker threads -t accepts.
inline constexpr int kMaxThreads = 1024;
// Applies --threads (0 = all cores) for a command.
void add_threads_option(CLI::App* cmd, int* threads);
void apply_threads(int threads);

}  // namespace tq::cli
