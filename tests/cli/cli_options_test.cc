// The command line's one validation layer (cli/validate.h, issue 12): every numeric option of
// every command has a validator, and bad values are refused while parsing — exit status 2 and a
// first stderr line naming the option and the problem — before any file is touched.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/commands.h"

namespace tq {
namespace {

struct CliRun {
  int rc;
  std::string first_line;
};

// tq's real command line on argv, parsed and validated only (no command runs).
CliRun run(std::vector<std::string> args) {
  args.insert(args.begin(), "tq");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  CLI::App app{"tq"};
  cli::add_commands(app, /*run_actions=*/false);
  ::testing::internal::CaptureStderr();
  const int rc = cli::run_command_line(app, static_cast<int>(argv.size()), argv.data());
  const std::string err = ::testing::internal::GetCapturedStderr();
  return {rc, err.substr(0, err.find('\n'))};
}

// Options that take any value of their type (seeds are any 64-bit number).
bool any_value_allowed(const std::string& name) { return name == "--seed"; }

TEST(CliOptions, EveryNumericOptionHasAValidator) {
  CLI::App app{"tq"};
  cli::add_commands(app);
  int n_numeric = 0;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    for (CLI::Option* o : sub->get_options()) {
      const std::string type = o->get_type_name();
      if (type.rfind("INT", 0) != 0 && type.rfind("UINT", 0) != 0 && type.rfind("FLOAT", 0) != 0)
        continue;
      ++n_numeric;
      if (any_value_allowed(o->get_name())) continue;
      EXPECT_NO_THROW(o->get_validator()) << "tq " << sub->get_name() << " " << o->get_name()
                                          << " (" << type << ") has no validator";
    }
  }
  EXPECT_GT(n_numeric, 40);
}

TEST(CliOptions, BadValuesExitWithStatus2NamingTheOption) {
  const std::string m = "-m", model = "no-such-model.gguf";
  const struct {
    std::vector<std::string> args;
    std::string first_line;
  } cases[] = {
      {{"run", m, model, "-p", "hi", "-n", "-1"}, "tq: --n-predict: -1 is out of range: must be >= 1"},
      {{"run", m, model, "-p", "hi", "-n", "0"}, "tq: --n-predict: 0 is out of range: must be >= 1"},
      {{"run", m, model, "-p", "hi", "--temp", "-1"}, "tq: --temp: -1 is out of range: must be in [0, 1000000]"},
      {{"run", m, model, "-p", "hi", "--temp", "nan"}, "tq: --temp: nan is not a finite number"},
      {{"run", m, model, "-p", "hi", "--temp", "inf"}, "tq: --temp: inf is not a finite number"},
      {{"run", m, model, "-p", "hi", "--top-p", "5"}, "tq: --top-p: 5 is out of range: must be in (0, 1]"},
      {{"run", m, model, "-p", "hi", "--top-p", "0"}, "tq: --top-p: 0 is out of range: must be in (0, 1]"},
      {{"run", m, model, "-p", "hi", "--top-k", "-5"}, "tq: --top-k: -5 is out of range: must be >= 0"},
      {{"run", m, model, "-p", "hi", "--ctx", "-1"}, "tq: --ctx: -1 is out of range: must be >= 2"},
      {{"run", m, model, "-p", "hi", "--ctx", "abc"}, "tq: --ctx: 'abc' is not an integer"},
      {{"run", m, model, "-p", "hi", "-b", "0"}, "tq: --batch: 0 is out of range: must be in [1, 65536]"},
      {{"run", m, model, "-p", "hi", "-t", "100000"}, "tq: --threads: 100000 is out of range: must be in [0, 1024]"},
      {{"run", m, model, "-p", "hi", "--kv-calib-tokens", "0"}, "tq: --kv-calib-tokens: 0 is out of range: must be >= 1"},
      {{"perplexity", m, model, "-f", "t.txt", "--ctx", "-5"}, "tq: --ctx: -5 is out of range: must be >= 2"},
      {{"perplexity", m, model, "-f", "t.txt", "--chunks", "-1"}, "tq: --chunks: -1 is out of range: must be >= 1"},
      {{"bench", m, model, "-r", "0"}, "tq: --reps: 0 is out of range: must be in [1, 1000000]"},
      {{"bench", m, model, "-p", "-3"}, "tq: --prompt-tokens: -3 is out of range: must be >= 1"},
      {{"quantize", m, model, "-o", "o.gguf", "--bpw", "nan"}, "tq: --bpw: nan is not a finite number"},
      {{"quantize", m, model, "-o", "o.gguf", "--tune-lr", "0"}, "tq: --tune-lr: 0 is out of range: must be > 0"},
      {{"quantize", m, model, "-o", "o.gguf", "--widths", "2,3.5,9"}, "tq: --widths: 9 is out of range: must be in [2, 8]"},
      {{"quantize", m, model, "-o", "o.gguf", "--calib-windows", "0"}, "tq: --calib-windows: 0 is out of range: must be >= 1"},
      {{"eval", m, model, "-f", "t", "--max-seconds", "-1"}, "tq: --max-seconds: -1 is out of range: must be in [0, 1000000000]"},
      {{"eval", m, model, "-f", "t", "--e2e-lr", "inf"}, "tq: --e2e-lr: inf is not a finite number"},
      {{"synth", "--preset", "tiny-llama3", "--layers", "0", "-o", "x"}, "tq: --layers: 0 is out of range: must be in [1, 1024]"},
      {{"inspect", "x.gguf", "--array-items", "-1"}, "tq: --array-items: -1 is out of range: must be in [0, 1073741824]"},
      {{"codec-roundtrip", "-i", "x.fvecs", "-b", "9"}, "tq: --bits: 9 is out of range: must be in [1, 8]"},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args);
    EXPECT_EQ(r.rc, 2) << c.first_line;
    EXPECT_EQ(r.first_line, c.first_line);
  }
}

TEST(CliOptions, ValidValuesParse) {
  const CliRun r = run({"run", "-m", "x.gguf", "-p", "hi", "-n", "8", "--temp", "0", "--top-p", "1",
                     "--top-k", "0", "--ctx", "2", "-b", "65536", "-t", "0", "--seed", "18446744073709551615"});
  EXPECT_EQ(r.rc, 0) << r.first_line;
  EXPECT_EQ(run({"version"}).rc, 0);
  EXPECT_EQ(run({"no-such-command"}).rc, 2);
}

}  // namespace
}  // namespace tq
