#include <hwy/targets.h>

#include <cstdio>

#include "cli/commands.h"
#include "core/cpu.h"
#include "core/parallel.h"

namespace tq::cli {

void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print version, build and machine information");
  cmd->callback([] {
    std::printf("tq %s (%s)\n", TQ_VERSION, TQ_GIT_DESCRIBE);
    std::printf("cpu: %s\n", cpu_summary().c_str());
    std::printf("threads: %d\n", num_threads());
    std::printf("simd targets:");
    for (int64_t t : hwy::SupportedAndGeneratedTargets()) std::printf(" %s", hwy::TargetName(t));
    std::printf("\n");
  });
}

}  // namespace tq::cli
