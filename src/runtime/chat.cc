#include "runtime/chat.h"

#include "core/timer.h"

namespace tq {

Chat::Chat(Session& session, const Tokenizer& tok, const ChatTemplate& tmpl,
           const SamplerOptions& s)
    : session_(session), tok_(tok), tmpl_(tmpl), sampler_(s) {}

void Chat::set_system(std::string text) {
  if (!messages_.empty() && messages_[0].role == "system") messages_.erase(messages_.begin());
  if (!text.empty()) messages_.insert(messages_.begin(), {"system", std::move(text)});
}

void Chat::reset() {
  const bool has_system = !messages_.empty() && messages_[0].role == "system";
  messages_.resize(has_system ? 1 : 0);
  session_.reset();
  cached_text_.clear();
}

Result<ChatTurnStats> Chat::send(const std::string& user_text, int64_t n_predict,
                                 const std::function<void(std::string_view)>& on_text,
                                 std::time_t now) {
  ChatTurnStats st;
  messages_.push_back({"user", user_text});
  auto prompt = tmpl_.render(messages_, /*add_generation_prompt=*/true, now);
  if (!prompt.ok()) {
    messages_.pop_back();
    return prompt.status();
  }
  // Templates that render earlier turns as they were (ChatML, Llama 3, Gemma, Mistral) extend the
  // cached text: only the new part is prefilled. Others (Qwen3 drops earlier reasoning, Gemma
  // trims answers) change it: the cache starts over.
  std::string delta;
  if (session_.n_past() > 0 && prompt->compare(0, cached_text_.size(), cached_text_) == 0) {
    delta = prompt->substr(cached_text_.size());
    st.n_reused = session_.n_past();
  } else {
    st.cache_rebuilt = session_.n_past() > 0;
    session_.reset();
    cached_text_.clear();
    delta = *prompt;
  }
  // The template writes BOS itself where the model wants one (HF tokenizes its output without
  // adding special tokens); control tokens in the text are matched.
  const std::vector<int32_t> ids =
      tok_.encode(delta, /*add_special=*/false, /*parse_special=*/true);
  if (session_.n_past() + static_cast<int64_t>(ids.size()) >= session_.n_ctx()) {
    messages_.pop_back();
    return out_of_range(
        "the conversation no longer fits the context: {} positions used, {} more needed, {} in "
        "all (start again with a larger --ctx)",
        session_.n_past(), ids.size(), session_.n_ctx());
  }
  Timer t;
  if (!ids.empty()) {
    if (Status s = session_.eval(ids, LogitsMode::kLast); !s.ok()) {
      messages_.pop_back();
      return s;
    }
  }
  cached_text_ += delta;
  st.n_prefilled = static_cast<int64_t>(ids.size());
  st.prefill_s = t.seconds();

  std::string answer;
  StreamDecoder dec(tok_);
  t.reset();
  st.stop = "token limit";
  while (st.n_generated < n_predict) {
    const int32_t next = sampler_.sample(session_.last_logits());
    ++st.n_generated;
    if (tok_.is_eog(next)) {  // the template writes the end-of-turn text for the next turn
      st.stop = "end of turn";
      break;
    }
    const std::string piece = dec.feed(next);
    answer += piece;
    if (!piece.empty()) on_text(piece);
    if (session_.n_past() + 1 >= session_.n_ctx()) {
      st.stop = "context full";
      break;
    }
    if (st.n_generated == n_predict) break;
    TQ_RETURN_IF_ERROR(session_.eval({&next, 1}, LogitsMode::kLast));
    // What the cache now holds: the token as the tokenizer renders it (control tokens by name).
    cached_text_ += tok_.is_special(next) ? tok_.token_text(next) : tok_.token_bytes(next);
  }
  const std::string tail = dec.flush();
  answer += tail;
  if (!tail.empty()) on_text(tail);
  st.decode_s = t.seconds();
  messages_.push_back({"assistant", std::move(answer)});
  return st;
}

}  // namespace tq
