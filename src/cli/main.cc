#include <unistd.h>

#include <cstdlib>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // libgomp reads OMP_WAIT_POLICY when it loads, before main(). Unless the user chose, re-execute
  // once with PASSIVE: idle workers then sleep instead of spinning, which on a shared or loaded
  // machine starves the thread still working (decode measured 3-6x slower with spinning workers).
  if (!std::getenv("OMP_WAIT_POLICY") && ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
    ::execv("/proc/self/exe", argv);  // returns only on failure: continue as we are
  CLI::App app{"tq — TurboQuant: compress LLMs (weights, KV cache) and run them compressed"};
  tq::cli::add_commands(app);
  return tq::cli::run_command_line(app, argc, argv);
}
