// tq synth: a model with the exact shapes of a real architecture and random weights, for speed and
// memory measurements at real sizes.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "core/file_util.h"
#include "core/timer.h"
#include "formats/format.h"
#include "model/synth.h"

namespace tq::cli {

void add_synth_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth", "Write a random-weight model with the shapes of a real architecture");
  struct Args {
    std::string preset, type = "bf16", out;
    int64_t layers = 0;
    uint64_t seed = 1;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--preset", a->preset,
                  fmt::format("Architecture: {}", fmt::join(synth_preset_names(), ", ")))
      ->required();
  cmd->add_option("--type", a->type,
                  "Weight type: bf16, f16 or f32; for a .gguf output also a type `tq convert` "
                  "writes (q8_0, q8, rtn4, tq4g128, ...: quantized data-free)")
      ->capture_default_str();
  cmd->add_option("--layers", a->layers, "Number of layers (default: the real model's)")
      ->check(int_range(1, 1024));
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("-o,--output", a->out,
                  "Output: a folder (Hugging Face layout) or a .gguf file")
      ->required();
  add_threads_option(cmd, &a->threads);
  cmd->callback([a] {
    apply_threads(a->threads);
    exit_on_error(a->out.ends_with(".gguf") ? check_output_file(a->out, "-o")
                                            : check_output_folder(a->out, "-o"));
    const FormatTraits* f = find_format(a->type);
    if (!f) exit_on_error(invalid_argument("unknown --type '{}'", a->type));
    SynthOptions o;
    o.preset = a->preset;
    o.n_layers = a->layers;
    o.type = f->id;
    o.seed = a->seed;
    o.out_dir = a->out;
    Timer t;
    auto bytes = synth_model(o);
    exit_on_error(bytes.status());
    std::printf("wrote %s: %s %s%s, %.3f GB of tensors in %.1f s (random weights)\n",
                a->out.c_str(), a->preset.c_str(), a->type.c_str(),
                a->layers ? fmt::format(", {} layers", a->layers).c_str() : "", *bytes / 1e9,
                t.seconds());
  });
}

}  // namespace tq::cli
