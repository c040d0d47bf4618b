// libFuzzer target: the command-line parser — tq's real command line (cli/commands.h: every
// subcommand, option and validator) on an argv made of the input's NUL-separated pieces. The
// commands' actions are switched off (no file is read or written): parsing and validation only.
// A parse error is fine; a crash, a sanitizer report or an uncaught exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/commands.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"tq"};
  std::string cur;
  for (size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  if (!cur.empty()) args.push_back(cur);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  CLI::App app{"tq"};
  tq::cli::add_commands(app, /*run_actions=*/false);
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {  // bad command lines, --help, --version, a bad --simd, and
  }                                   // CLI::Success once a valid command line is parsed
  return 0;
}
