#include <cstdio>

#include "cli/commands.h"
#include "core/cpu.h"
#include "core/parallel.h"
#include "core/simd.h"

namespace tq::cli {

void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print version, build and machine information");
  cmd->callback([] {
    std::printf("tq %s (%s)\n", TQ_VERSION, TQ_GIT_DESCRIBE);
    std::printf("cpu: %s\n", cpu_summary().c_str());
    std::printf("threads: %d\n", num_threads());
    std::printf("simd target: %s (TQ_SIMD or --simd caps it)\n", simd_target().c_str());
    std::printf("simd targets:");
    for (const std::string& t : simd_targets_all()) std::printf(" %s", t.c_str());
    std::printf("\n");
  });
}

}  // namespace tq::cli
