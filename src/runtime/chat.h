// A conversation with a model through its chat template: each user turn is rendered with the
// whole conversation, only the text the session's KV cache does not hold yet is tokenized and
// prefilled, and the answer is generated until an end-of-generation token (eos, <|im_end|>,
// <end_of_turn>, <|eot_id|>, ... : Tokenizer::is_eog) or the token limit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "io/chat_template.h"
#include "io/tokenizer.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

namespace tq {

struct ChatTurnStats {
  int64_t n_prefilled = 0;  // new prompt tokens evaluated for this turn
  int64_t n_reused = 0;     // positions already in the KV cache that the turn kept
  int64_t n_generated = 0;  // answer tokens (the end-of-turn token included when it came)
  double prefill_s = 0, decode_s = 0;
  const char* stop = "";       // "end of turn", "token limit", "context full"
  bool cache_rebuilt = false;  // the template re-rendered earlier turns differently: full prefill
};

class Chat {
 public:
  // `session`, `tok` and `tmpl` must outlive the Chat. The session should be empty.
  Chat(Session& session, const Tokenizer& tok, const ChatTemplate& tmpl, const SamplerOptions& s);

  // Sets the system message (before the first turn, or after reset()).
  void set_system(std::string text);
  // Adds a user turn and generates at most n_predict answer tokens, calling on_text with each
  // piece of decoded text as it comes; the answer joins the conversation. `now` > 0 gives the
  // template strftime_now (ChatTemplate::render). Errors (template, context full before the
  // answer starts) leave the conversation as it was.
  Result<ChatTurnStats> send(const std::string& user_text, int64_t n_predict,
                             const std::function<void(std::string_view)>& on_text,
                             std::time_t now = 0);
  // Forgets the conversation (the system message stays) and empties the cache.
  void reset();

  const std::vector<ChatMessage>& messages() const { return messages_; }

 private:
  Session& session_;
  const Tokenizer& tok_;
  const ChatTemplate& tmpl_;
  Sampler sampler_;
  std::vector<ChatMessage> messages_;
  // The text whose tokens the session's cache holds (positions [0, n_past)): rendered prompts and
  // the generated answers, as decoded token by token.
  std::string cached_text_;
};

}  // namespace tq
