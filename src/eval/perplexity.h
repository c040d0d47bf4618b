// Perplexity and KLD over a tokenized text (DESIGN.md §5): non-overlapping windows of n_ctx
// tokens, each evaluated from an empty cache; every predicted token counted (or, with llamacpp,
// only the second half of each window, as llama-perplexity scores). Optionally saves the run's
// logits (the FP base) or compares the run against saved base logits (mean / median / p99 KLD and
// top-1 agreement). The Session decides what runs: FP or quantized weights, any KV cache.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "runtime/session.h"
#include "tq/status.h"

namespace tq {

struct PerplexityOptions {
  int64_t n_ctx = 512;     // window length in tokens (the session's context must hold it)
  int64_t max_chunks = 0;  // windows to evaluate; 0 = every full window of the text
  bool llamacpp = false;   // score positions [n_ctx/2, n_ctx-1) of each window only
  int32_t bos_id =
      -1;  // llamacpp mode: >= 0 replaces each window's first token (llama-perplexity with add_bos)
  int64_t n_batch = 512;         // tokens per Session::eval call
  std::string save_logits_path;  // write this run's logits (io/saved_logits.h)
  std::string kld_base_path;     // compare this run with saved logits: same windows required
  bool progress = true;          // progress bar on stderr
};

struct KldStats {
  int64_t n = 0;  // scored tokens compared
  double mean = 0, mean_stderr = 0, median = 0, p99 = 0, max = 0;
  double top1_agreement = 0, top1_stderr = 0;  // fraction of tokens whose arg-max equals the base's
  double base_ppl = 0;                         // perplexity of the base run (from the saved NLLs)
};

struct PerplexityResult {
  int64_t n_tokens_text = 0;  // tokens in the input
  int64_t n_chunks = 0;       // windows evaluated
  int64_t n_scored = 0;       // predictions counted
  double mean_nll = 0, nll_stderr = 0;
  double ppl = 0, ppl_stderr = 0;  // exp(mean NLL) and its standard error (delta method)
  std::optional<KldStats> kld;
  double seconds = 0;
  double tokens_per_second = 0;  // evaluated tokens (n_chunks * n_ctx) per second
};

// Runs the protocol on `tokens` (already tokenized, BOS where the tokenizer adds it). Errors: fewer
// tokens than one window, n_ctx larger than the session's context, unreadable / mismatched base
// logits (other text, tokenizer, window length or vocabulary), write errors, a non-finite logit,
// PPL or KLD. Resets the session.
Result<PerplexityResult> perplexity(Session& session, std::span<const int32_t> tokens,
                                    const PerplexityOptions& opts);

// "PPL 44.455 ± 0.139 over 204,400 tokens (400 windows of 512)" and, with KLD, a second line.
std::string format_perplexity(const PerplexityResult& r, const PerplexityOptions& opts);

}  // namespace tq
