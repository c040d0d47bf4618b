#include "eval/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "core/progress.h"
#include "core/timer.h"
#include "io/saved_logits.h"
#include "kernels/ops.h"

namespace tq {
namespace {

// NLL of `target` under softmax(logits).
double token_nll(const float* logits, int64_t V, int32_t target) {
  return logsumexp(logits, V) - logits[target];
}

struct MeanSd {
  double mean = 0, stderr_ = 0;
};
MeanSd mean_stderr(const std::vector<double>& v) {
  MeanSd r;
  if (v.empty()) return r;
  double s = 0;
  for (double x : v) s += x;
  r.mean = s / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - r.mean) * (x - r.mean);
  if (v.size() > 1)
    r.stderr_ = std::sqrt(ss / static_cast<double>(v.size() - 1) / static_cast<double>(v.size()));
  return r;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k =
      std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

Result<PerplexityResult> perplexity(Session& session, std::span<const int32_t> tokens,
                                    const PerplexityOptions& o) {
  const int64_t n_ctx = o.n_ctx, V = session.n_vocab();
  if (n_ctx < 2) return invalid_argument("perplexity: window length {} must be at least 2", n_ctx);
  if (n_ctx > session.n_ctx())
    return invalid_argument("perplexity: window length {} exceeds the session's context {}", n_ctx,
                            session.n_ctx());
  const int64_t n_text = static_cast<int64_t>(tokens.size());
  int64_t n_chunks = n_text / n_ctx;
  if (n_chunks == 0)
    return invalid_argument("perplexity: the text has {} tokens, fewer than one window of {}",
                            n_text, n_ctx);
  if (o.max_chunks > 0) n_chunks = std::min(n_chunks, o.max_chunks);
  const int64_t first = o.llamacpp ? n_ctx / 2 : 0;  // first scored position (predicting first + 1)
  const int64_t per_chunk = n_ctx - 1 - first;
  if (per_chunk < 1) return invalid_argument("perplexity: window length {} scores no token", n_ctx);

  // The windows exactly as evaluated (llamacpp mode may put BOS first).
  std::vector<int32_t> windows(tokens.begin(), tokens.begin() + n_chunks * n_ctx);
  if (o.llamacpp && o.bos_id >= 0)
    for (int64_t c = 0; c < n_chunks; ++c) windows[c * n_ctx] = o.bos_id;

  std::unique_ptr<SavedLogitsReader> base;
  if (!o.kld_base_path.empty()) {
    TQ_ASSIGN_OR_RETURN(base, SavedLogitsReader::open(o.kld_base_path));
    const SavedLogitsHeader& h = base->header();
    if (h.n_vocab != V || h.n_ctx != n_ctx || h.llamacpp != o.llamacpp)
      return invalid_argument("{}: saved with vocabulary {}, window {}{}; this run has {}, {}{}",
                              o.kld_base_path, h.n_vocab, h.n_ctx, h.llamacpp ? " (llamacpp)" : "",
                              V, n_ctx, o.llamacpp ? " (llamacpp)" : "");
    if (h.n_chunks < n_chunks)
      return invalid_argument("{}: holds {} windows, this run needs {} (use --chunks {})",
                              o.kld_base_path, h.n_chunks, n_chunks, h.n_chunks);
    if (!std::equal(windows.begin(), windows.end(), base->tokens().begin()))
      return invalid_argument(
          "{}: the saved windows are a different token sequence (other text or tokenizer)",
          o.kld_base_path);
  }
  std::unique_ptr<SavedLogitsWriter> writer;
  if (!o.save_logits_path.empty()) {
    SavedLogitsHeader h{V, n_ctx, n_chunks, first, o.llamacpp, n_chunks * per_chunk};
    TQ_ASSIGN_OR_RETURN(writer, SavedLogitsWriter::create(o.save_logits_path, h, windows));
  }

  std::vector<double> nll, kld, base_nll;
  nll.reserve(static_cast<size_t>(n_chunks * per_chunk));
  int64_t top1_same = 0;
  Progress progress("perplexity", n_chunks, o.progress);
  Timer timer;
  const int64_t n_batch = std::max<int64_t>(1, o.n_batch);
  std::vector<TokenKld> batch_kld;
  for (int64_t c = 0; c < n_chunks; ++c) {
    session.reset();
    const int32_t* win = windows.data() + c * n_ctx;
    for (int64_t b0 = 0; b0 < n_ctx; b0 += n_batch) {
      const int64_t nb = std::min(n_batch, n_ctx - b0);
      TQ_RETURN_IF_ERROR(session.eval({win + b0, static_cast<size_t>(nb)}, LogitsMode::kAll));
      // Scored positions j in [max(first, b0), min(b0 + nb, n_ctx - 1)) predict win[j + 1].
      const int64_t j0 = std::max(first, b0), j1 = std::min(b0 + nb, n_ctx - 1);
      if (j0 >= j1) continue;
      const float* lg = session.logits().data();
      for (int64_t j = j0; j < j1; ++j) nll.push_back(token_nll(lg + (j - b0) * V, V, win[j + 1]));
      if (writer)
        for (int64_t j = j0; j < j1; ++j)
          TQ_RETURN_IF_ERROR(writer->add(lg + (j - b0) * V, win[j + 1]));
      if (base) {
        batch_kld.resize(static_cast<size_t>(j1 - j0));
        const int64_t rec0 = c * per_chunk + (j0 - first);
        parallel_for(j1 - j0, [&](int64_t a, int64_t e) {
          for (int64_t i = a; i < e; ++i)
            batch_kld[i] = compare_to_saved(base->record(rec0 + i), lg + (j0 + i - b0) * V, V);
        });
        for (int64_t i = 0; i < j1 - j0; ++i) {
          kld.push_back(batch_kld[i].kld);
          top1_same += batch_kld[i].top1_same;
          base_nll.push_back(base->record(rec0 + i).nll);
        }
      }
    }
    double s = 0;
    for (double x : nll) s += x;
    progress.step(1, fmt::format("ppl {:.4f}", std::exp(s / static_cast<double>(nll.size()))));
  }
  progress.finish();
  if (writer) TQ_RETURN_IF_ERROR(writer->finish());
  session.reset();

  PerplexityResult r;
  r.n_tokens_text = n_text;
  r.n_chunks = n_chunks;
  r.n_scored = static_cast<int64_t>(nll.size());
  const MeanSd m = mean_stderr(nll);
  r.mean_nll = m.mean;
  r.nll_stderr = m.stderr_;
  r.ppl = std::exp(m.mean);
  r.ppl_stderr = r.ppl * m.stderr_;
  if (!std::isfinite(r.ppl))  // finite logits can still overflow exp (mean NLL > 709)
    return out_of_range("perplexity: {} (mean NLL {}) is not finite: the model's logits are extreme",
                        r.ppl, m.mean);
  r.seconds = timer.seconds();
  r.tokens_per_second = static_cast<double>(n_chunks * n_ctx) / std::max(1e-9, r.seconds);
  if (base) {
    KldStats k;
    k.n = static_cast<int64_t>(kld.size());
    const MeanSd km = mean_stderr(kld);
    k.mean = km.mean;
    k.mean_stderr = km.stderr_;
    k.median = quantile(kld, 0.5);
    k.p99 = quantile(kld, 0.99);
    k.max = kld.empty() ? 0 : *std::max_element(kld.begin(), kld.end());
    k.top1_agreement = k.n ? static_cast<double>(top1_same) / static_cast<double>(k.n) : 0;
    k.top1_stderr =
        k.n ? std::sqrt(k.top1_agreement * (1 - k.top1_agreement) / static_cast<double>(k.n)) : 0;
    k.base_ppl = std::exp(mean_stderr(base_nll).mean);
    if (!std::isfinite(k.mean) || !std::isfinite(k.base_ppl))
      return corrupt_file("{}: KLD {} / base PPL {} is not finite: the saved logits hold non-finite "
                          "values (a damaged file?)",
                          o.kld_base_path, k.mean, k.base_ppl);
    r.kld = k;
  }
  return r;
}

std::string format_perplexity(const PerplexityResult& r, const PerplexityOptions& o) {
  std::string s =
      fmt::format("PPL {:.4f} ± {:.4f} over {} tokens ({} windows of {}{})", r.ppl, r.ppl_stderr,
                  r.n_scored, r.n_chunks, o.n_ctx, o.llamacpp ? ", second halves scored" : "");
  if (r.kld) {
    const KldStats& k = *r.kld;
    s += fmt::format(
        "\nKLD vs base: mean {:.5g} ± {:.2g}, median {:.5g}, p99 {:.5g}, max {:.4g}; top-1 "
        "agreement {:.2f}% ± "
        "{:.2f}%; base PPL {:.4f} (ΔPPL {:+.3f}%)",
        k.mean, k.mean_stderr, k.median, k.p99, k.max, 100 * k.top1_agreement, 100 * k.top1_stderr,
        k.base_ppl, 100 * (r.ppl / k.base_ppl - 1));
  }
  return s;
}

}  // namespace tq
