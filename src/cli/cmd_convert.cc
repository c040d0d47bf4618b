// tq convert -m MODEL -o OUT.gguf --type f32|f16|bf16|q8_0|q8|rtn4|tq<b>g<G>: a Hugging Face folder
// (or GGUF file) to a GGUF file (io/gguf_convert.h has the rules). llama.cpp loads the first four;
// the others are our own formats, quantized data-free by their reference quantizers.
#include <cstdio>

#include "cli/commands.h"
#include "core/file_util.h"
#include "formats/format.h"
#include "io/checksum.h"
#include "io/gguf_convert.h"

namespace tq::cli {

void add_convert_command(CLI::App& app) {
  struct Args {
    std::string model, out, type = "f16";
    int threads = 0;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("convert", "Convert a Hugging Face folder to a GGUF file llama.cpp loads");
  cmd->add_option("-m,--model", args->model, "Hugging Face model folder (or GGUF file)")
      ->required();
  cmd->add_option("-o,--out", args->out, "Output .gguf file (written atomically)")->required();
  std::vector<std::string> types = {"f32", "f16", "bf16", "q8_0"};
  for (const FormatTraits& f : all_formats())
    if (is_turboquant_type(f.id) && f.from_float) types.push_back(f.name);
  cmd->add_option("--type", args->type,
                  "Type of the 2-D weights (norms, biases and 1-D tensors stay f32): f32, f16, "
                  "bf16, q8_0 (llama.cpp loads these), or data-free q8, rtn4, tq<b>g<G> "
                  "(b 2-6, 8; G 32, 64, 128; e.g. tq4g128)")
      ->check(CLI::IsMember(types))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "No progress bar");
  add_threads_option(cmd, &args->threads);
  cmd->callback([args] {
    apply_threads(args->threads);
    exit_on_error(check_output_file(args->out, "-o"));
    const FormatTraits* f = find_format(std::string_view(args->type));
    if (!f) exit_on_error(invalid_argument("unknown type '{}'", args->type));
    auto mf = open_model(args->model);
    exit_on_error(mf.status());
    exit_on_error(verify_checksums_at_load(*mf));
    ConvertOptions opt;
    opt.type = f->id;
    opt.progress = !args->quiet;
    auto sum = convert_to_gguf(*mf, args->out, opt);
    exit_on_error(sum.status());
    std::printf(
        "wrote %s: %lld tensors, %lld parameters, %.2f MiB (%.3f bits per weight) in %.1f s\n",
        args->out.c_str(), static_cast<long long>(sum->n_tensors),
        static_cast<long long>(sum->n_params), static_cast<double>(sum->file_bytes) / (1 << 20),
        8.0 * static_cast<double>(sum->tensor_bytes) / static_cast<double>(sum->n_params),
        sum->seconds);
    for (const auto& [type, n] : sum->params_by_type)
      std::printf("  %-6s %12lld parameters (%.1f%%)\n", type_name(type), static_cast<long long>(n),
                  100.0 * static_cast<double>(n) / static_cast<double>(sum->n_params));
  });
}

}  // namespace tq::cli
