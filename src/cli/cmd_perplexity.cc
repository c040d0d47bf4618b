// tq perplexity: PPL of a text file (DESIGN.md §5), optionally saving logits or reporting KLD
// against saved ones.
#include <fmt/format.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/file_util.h"
#include "core/timer.h"
#include "eval/perplexity.h"
#include "io/tokenizer.h"
#include "runtime/kv_channel_stats.h"
#include "runtime/kv_plan.h"

namespace tq::cli {
namespace {

struct PplArgs {
  ModelArgs m;
  std::string file;
  PerplexityOptions o;
  bool quiet = false;
};

Status run(PplArgs& a) {
  apply_threads(a.m.threads);
  if (!a.o.save_logits_path.empty())
    TQ_RETURN_IF_ERROR(check_output_file(a.o.save_logits_path, "--save-logits"));
  if (a.m.ctx > 0) a.o.n_ctx = a.m.ctx;
  TQ_ASSIGN_OR_RETURN(auto model, load_model(a.m.model));
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(model->file));
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(a.file));
  Timer t;
  const std::vector<int32_t> ids = tok->encode(text, /*add_special=*/true);
  if (!a.quiet)
    std::fprintf(stderr, "%s: %zu bytes -> %zu tokens in %.2f s (BOS %s)\n", a.file.c_str(),
                 text.size(), ids.size(), t.seconds(), tok->adds_bos() ? "added" : "not added");
  if (a.o.llamacpp && tok->adds_bos()) a.o.bos_id = tok->bos_id();
  TQ_ASSIGN_OR_RETURN(const int64_t budget, kv_budget_bytes(a.m.kv));
  TQ_ASSIGN_OR_RETURN(SessionOptions so, session_options(a.m, a.o.n_ctx, *model));
  TQ_ASSIGN_OR_RETURN(auto session, Session::create(*model, so));
  a.o.n_batch = a.m.batch;
  a.o.progress = !a.quiet;
  if (!a.quiet)
    std::fprintf(stderr, "%s: %s\n%s%s\n", a.m.model.c_str(), model->hp.to_string().c_str(),
                 kv_memory_summary(session->kv_cache(), budget).c_str(),
                 so.kv.channel_stats ? (" | outlier channels: " + so.kv.channel_stats->source).c_str() : "");
  TQ_ASSIGN_OR_RETURN(PerplexityResult r, perplexity(*session, ids, a.o));
  std::printf("%s\n", format_perplexity(r, a.o).c_str());
  if (!a.quiet) std::fprintf(stderr, "%.1f s, %.1f tokens/s\n", r.seconds, r.tokens_per_second);
  if (!a.quiet && !a.o.save_logits_path.empty())
    std::fprintf(stderr, "saved logits to %s\n", a.o.save_logits_path.c_str());
  return ok_status();
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("perplexity",
                                 "Perplexity of a text file (and KLD against saved base logits)");
  auto a = std::make_shared<PplArgs>();
  add_model_args(cmd, &a->m, "Window length in tokens (default 512)");
  a->m.batch = 512;
  cmd->add_option("-f,--file", a->file, "Text file, tokenized whole")->required();
  cmd->add_option("--chunks", a->o.max_chunks, "Evaluate only the first K windows (default: all)")
      ->check(positive_int());
  cmd->add_flag("-q,--quiet", a->quiet, "Only the result (no info lines or progress bar on stderr)");
  cmd->add_flag("--llamacpp", a->o.llamacpp,
                "Score only the second half of each window (llama-perplexity)");
  cmd->add_option(
      "--save-logits", a->o.save_logits_path,
      "Save this run's logits (2 bytes per vocabulary entry per scored token) as a KLD base");
  cmd->add_option("--kld-base", a->o.kld_base_path,
                  "Report KLD and top-1 agreement against saved logits");
  cmd->callback([a] { exit_on_error(run(*a)); });
}

}  // namespace tq::cli
