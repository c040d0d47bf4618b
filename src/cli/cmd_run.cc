// tq run: generate text from a prompt, streaming tokens to stdout; speed on stderr.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "cli/chat_options.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/file_util.h"
#include "core/timer.h"
#include "io/tokenizer.h"
#include "runtime/kv_plan.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace tq::cli {
namespace {

struct RunArgs {
  ModelArgs m;
  std::string prompt, prompt_file;
  int64_t n_predict = 128;
  SamplerOptions sampler;
  bool seed_given = false;
  bool quiet = false;
  bool chat = false;   // --chat: the prompt is one user turn of the model's chat template
  bool temp_given = false;
  std::string system;  // --system (with --chat)
};

Status run(RunArgs& a) {
  apply_threads(a.m.threads);
  if (a.prompt.empty() == a.prompt_file.empty())
    return invalid_argument("give exactly one of -p TEXT or -f FILE");
  if (!a.prompt_file.empty()) {
    TQ_ASSIGN_OR_RETURN(a.prompt, read_file(a.prompt_file));
  }
  if (!a.system.empty() && !a.chat) return invalid_argument("--system needs --chat");
  if (a.chat) {
    ChatArgs c{a.m, a.system, a.n_predict, a.sampler, a.seed_given, a.quiet};
    if (!a.temp_given) c.sampler.temperature = ChatArgs{}.sampler.temperature;  // greedy
    return run_chat(c, &a.prompt);
  }
  Timer load;
  TQ_ASSIGN_OR_RETURN(auto model, load_model(a.m.model));
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(model->file));
  const std::vector<int32_t> ids = tok->encode(a.prompt, /*add_special=*/true);
  if (ids.empty()) return invalid_argument("the prompt encodes to no tokens");
  TQ_ASSIGN_OR_RETURN(const int64_t budget, kv_budget_bytes(a.m.kv));
  TQ_ASSIGN_OR_RETURN(SessionOptions so, session_options(a.m, a.m.ctx, *model));
  TQ_ASSIGN_OR_RETURN(auto session, Session::create(*model, so));
  const int64_t n_prompt = static_cast<int64_t>(ids.size());
  if (n_prompt >= session->n_ctx())
    return out_of_range(
        "the prompt has {} tokens but the context holds {} (raise --ctx; the model was trained on "
        "{})",
        n_prompt, session->n_ctx(), model->hp.n_ctx_train);
  if (!a.seed_given)
    a.sampler.seed =
        static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const double load_s = load.seconds();

  std::fputs(a.prompt.c_str(), stdout);
  std::fflush(stdout);
  Timer t;
  TQ_RETURN_IF_ERROR(session->eval(ids, LogitsMode::kLast));
  const double prefill_s = t.seconds();
  // After the prefill, so that a model that fails on its first tokens (non-finite logits) shows
  // its error as the first line on stderr.
  if (!a.quiet)
    std::fprintf(
        stderr, "%s: %s | %s | ctx %lld | loaded in %.2f s | seed %llu\n%s\n", a.m.model.c_str(),
        model->hp.to_string().c_str(), tok->source().c_str(),
        static_cast<long long>(session->n_ctx()), load_s,
        static_cast<unsigned long long>(a.sampler.seed),
        kv_memory_summary(session->kv_cache(), budget).c_str());
  Sampler sampler(a.sampler);
  StreamDecoder out(*tok);
  int64_t n_gen = 0;
  const char* stop = "token limit";
  t.reset();
  while (n_gen < a.n_predict) {
    const int32_t next = sampler.sample(session->last_logits());
    ++n_gen;
    if (tok->is_eog(next)) {
      stop = "end of generation token";
      break;
    }
    std::fputs(out.feed(next).c_str(), stdout);
    std::fflush(stdout);
    if (n_gen == a.n_predict) break;
    if (session->n_past() >= session->n_ctx()) {
      stop = "context full";
      break;
    }
    TQ_RETURN_IF_ERROR(session->eval({&next, 1}, LogitsMode::kLast));
  }
  const double decode_s = t.seconds();
  std::fputs(out.flush().c_str(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);  // the statistics below go to stderr: keep the order when both are piped
  // The first generated token comes from the prefill logits; the other n_gen - 1 each cost one
  // decode step.
  if (!a.quiet)
    std::fprintf(stderr,
                 "prefill: %lld tokens in %.3f s (%.1f tokens/s) | decode: %lld tokens in %.3f s "
                 "(%.2f tokens/s) | stopped: %s\n",
                 static_cast<long long>(n_prompt), prefill_s, n_prompt / prefill_s,
                 static_cast<long long>(n_gen - 1), decode_s,
                 n_gen > 1 ? (n_gen - 1) / decode_s : 0.0, stop);
  return ok_status();
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("run", "Generate text from a prompt (streams tokens, prints tokens/s)");
  auto a = std::make_shared<RunArgs>();
  add_model_args(cmd, &a->m, "Context length (default: the model's, at most 4096)");
  cmd->add_option("-p,--prompt", a->prompt, "Prompt text");
  cmd->add_option("-f,--file", a->prompt_file, "Read the prompt from a file");
  cmd->add_option("-n,--n-predict", a->n_predict, "Tokens to generate")
      ->check(positive_int())
      ->capture_default_str();
  cmd->add_option("--temp", a->sampler.temperature, "Temperature (0: greedy; --chat: 0 by default)")
      ->check(real_range(0, 1e6))
      ->capture_default_str()
      ->each([a](const std::string&) { a->temp_given = true; });
  cmd->add_option("--top-k", a->sampler.top_k, "Top-k (0: off)")
      ->check(non_negative_int())
      ->capture_default_str();
  cmd->add_option("--top-p", a->sampler.top_p, "Top-p (1: off)")
      ->check(real_range(0, 1, /*lo_open=*/true))
      ->capture_default_str();
  cmd->add_option("--seed", a->sampler.seed, "Sampling seed (default: from the clock, printed)")
      ->each([a](const std::string&) { a->seed_given = true; });
  cmd->add_flag("-q,--quiet", a->quiet, "Only the text (no load / speed lines on stderr)");
  cmd->add_flag("--chat", a->chat,
                "The prompt is a user turn: apply the model's chat template, stop at its end of "
                "turn, print only the answer");
  cmd->add_option("--system", a->system, "System message (with --chat)");
  cmd->callback([a] { exit_on_error(run(*a)); });
}

}  // namespace tq::cli
