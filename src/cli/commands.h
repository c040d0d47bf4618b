// One file per subcommand (STYLE.md §11). Each add_*_command registers its options and callback on
// the app; the callback turns a Status into a message on stderr and an exit code.
#pragma once

#include <CLI/CLI.hpp>

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

// Prints "tq: <status>" to stderr and throws CLI::RuntimeError(exit code) when !st.ok().
void exit_on_error(const Status& st);
// Applies --threads (0 = all cores) for a command.
void add_threads_option(CLI::App* cmd, int* threads);
void apply_threads(int threads);

}  // namespace tq::cli
