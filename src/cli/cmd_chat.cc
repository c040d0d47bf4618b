// tq chat: talk to a model through its own chat template, keeping the conversation (and its KV
// cache) between turns. Also runs `tq run --chat` (one turn).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/chat_options.h"
#include "cli/commands.h"
#include "core/timer.h"
#include "io/chat_template.h"
#include "io/tokenizer.h"
#include "runtime/chat.h"
#include "runtime/kv_plan.h"
#include "runtime/session.h"

namespace tq::cli {

Status run_chat(ChatArgs& a, const std::string* prompt) {
  apply_threads(a.m.threads);
  Timer load;
  TQ_ASSIGN_OR_RETURN(auto model, load_model(a.m.model));
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(model->file));
  TQ_ASSIGN_OR_RETURN(const ChatTemplate tmpl, ChatTemplate::from_model_file(model->file, *tok));
  TQ_ASSIGN_OR_RETURN(const int64_t budget, kv_budget_bytes(a.m.kv));
  TQ_ASSIGN_OR_RETURN(SessionOptions so, session_options(a.m, a.m.ctx, *model));
  TQ_ASSIGN_OR_RETURN(auto session, Session::create(*model, so));
  if (!a.seed_given)
    a.sampler.seed =
        static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  if (!a.quiet)
    std::fprintf(stderr, "%s: %s | %s | ctx %lld | loaded in %.2f s | seed %llu\n%s\n",
                 a.m.model.c_str(), model->hp.to_string().c_str(), tmpl.name().c_str(),
                 static_cast<long long>(session->n_ctx()), load.seconds(),
                 static_cast<unsigned long long>(a.sampler.seed),
                 kv_memory_summary(session->kv_cache(), budget).c_str());
  Chat chat(*session, *tok, tmpl, a.sampler);
  chat.set_system(a.system);
  auto turn = [&](const std::string& text) -> Status {
    TQ_ASSIGN_OR_RETURN(const ChatTurnStats st, chat.send(
                                                    text, a.n_predict,
                                                    [](std::string_view piece) {
                                                      std::fwrite(piece.data(), 1, piece.size(),
                                                                  stdout);
                                                      std::fflush(stdout);
                                                    },
                                                    std::time(nullptr)));
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (!a.quiet)
      std::fprintf(stderr,
                   "[prefill: %lld new tokens in %.3f s, %lld cached positions reused%s | answer: "
                   "%lld tokens in %.3f s (%.2f tokens/s) | stopped: %s]\n",
                   static_cast<long long>(st.n_prefilled), st.prefill_s,
                   static_cast<long long>(st.n_reused),
                   st.cache_rebuilt ? " (the template changed earlier turns: cache rebuilt)" : "",
                   static_cast<long long>(st.n_generated), st.decode_s,
                   st.decode_s > 0 ? st.n_generated / st.decode_s : 0.0, st.stop);
    return ok_status();
  };
  if (prompt) return turn(*prompt);
  const bool tty = isatty(STDIN_FILENO);
  if (tty && !a.quiet)
    std::fprintf(stderr, "(one line per turn; /reset starts over, /exit or Ctrl-D ends)\n");
  for (std::string line;;) {
    if (tty) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      chat.reset();
      continue;
    }
    if (line.empty()) continue;
    TQ_RETURN_IF_ERROR(turn(line));
  }
  return ok_status();
}

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "chat", "Talk to a model through its chat template (user turns from stdin, one per line)");
  auto a = std::make_shared<ChatArgs>();
  add_model_args(cmd, &a->m,
                 "Context length for the whole conversation (default: the model's, at most 4096)");
  cmd->add_option("--system", a->system, "System message");
  cmd->add_option("-n,--n-predict", a->n_predict, "Most tokens per answer")
      ->check(positive_int())
      ->capture_default_str();
  cmd->add_option("--temp", a->sampler.temperature, "Temperature (0, the default: greedy)")
      ->check(real_range(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--top-k", a->sampler.top_k, "Top-k (0: off)")
      ->check(non_negative_int())
      ->capture_default_str();
  cmd->add_option("--top-p", a->sampler.top_p, "Top-p (1: off)")
      ->check(real_range(0, 1, /*lo_open=*/true))
      ->capture_default_str();
  cmd->add_option("--seed", a->sampler.seed, "Sampling seed (default: from the clock, printed)")
      ->each([a](const std::string&) { a->seed_given = true; });
  cmd->add_flag("-q,--quiet", a->quiet, "Only the answers (no load / speed lines on stderr)");
  cmd->callback([a] { exit_on_error(run_chat(*a, nullptr)); });
}

}  // namespace tq::cli
