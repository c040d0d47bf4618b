// A model's own chat template (tokenizer.chat_template of a GGUF, chat_template of an HF folder's
// tokenizer_config.json or its chat_template.jinja), rendered with the Jinja subset of
// io/jinja.h as Hugging Face's apply_chat_template renders it.
#pragma once

#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/jinja.h"
#include "io/model_file.h"
#include "io/tokenizer.h"
#include "tq/status.h"

namespace tq {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  // The template of `mf`. bos_token / eos_token are the texts of tok's BOS / EOS tokens.
  // Errors: not_found naming the file when the model has no chat template; invalid_argument
  // naming the file and line for a template that does not parse.
  static Result<ChatTemplate> from_model_file(const ModelFile& mf, const Tokenizer& tok);
  // A template given as text; `name` names it in errors.
  static Result<ChatTemplate> from_source(std::string_view source, std::string bos_token,
                                          std::string eos_token, const std::string& name);

  // The prompt text for `messages` (variables: messages, add_generation_prompt, bos_token,
  // eos_token). `now` > 0 also defines strftime_now(format) (as transformers does) with that
  // time; 0 leaves it undefined, so that templates fall back to their fixed date (as the tests
  // need). Errors name the template: raise_exception's message, type errors.
  Result<std::string> render(std::span<const ChatMessage> messages, bool add_generation_prompt,
                             std::time_t now = 0) const;

  const std::string& name() const { return name_; }

 private:
  jinja::Template tmpl_;
  std::string bos_, eos_, name_;
};

}  // namespace tq
