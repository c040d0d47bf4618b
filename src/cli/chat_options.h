// `tq chat` and `tq run --chat` (cmd_chat.cc): a conversation through the model's chat template.
#pragma once

#include <string>

#include "cli/model_options.h"
#include "runtime/sampler.h"

namespace tq::cli {

struct ChatArgs {
  ModelArgs m;
  std::string system;       // --system
  int64_t n_predict = 512;  // per answer
  // Greedy by default: a small model's answer to a factual question is its most likely one, and
  // reproducible (tq run --chat keeps this unless --temp is given).
  SamplerOptions sampler{0.0f, 40, 0.95f, 0};
  bool seed_given = false;
  bool quiet = false;
};

// One turn `prompt` when given (tq run --chat), else user turns read line by line from stdin
// until end of input or "/exit" ("/reset" starts the conversation again). Answers stream to
// stdout; load, per-turn cache reuse and speed lines go to stderr unless quiet.
Status run_chat(ChatArgs& a, const std::string* prompt);

}  // namespace tq::cli
