// `tq eval`: one model quantized several ways, each row measured with the project's protocol
// (DESIGN.md §5) in one run: bits per weight over all tensors, file size, memory reduction vs the
// source, PPL over `ppl_windows` windows, mean/p99 KLD and top-1 agreement against the source over
// the first `kld_windows`, decode tokens/s and speedup vs the source (all rows benchmarked back to
// back at the end), and the quantization time. Rows share calibration and sensitivities
// (quantize/pipeline.h QuantizeContext). Optional llama.cpp anchor rows (anchors/
// LLAMACPP-WEIGHTS.md) are printed beside the row at the same bits per weight.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/bench.h"
#include "quantize/pipeline.h"
#include "tq/status.h"

namespace tq {

// One row: label, recipe (quantize/recipe.h) and method (quantize/method.h). Recipe "base" is the
// source model itself (the reference of KLD, size and speed).
struct WeightEvalRow {
  std::string label, recipe, method;
};

// Rows from text: entries separated by ',' each "[LABEL:]RECIPE[@METHOD]" (METHOD defaults to
// `default_method`; LABEL to "RECIPE METHOD"). "base" is added first when missing. E.g.
// "base,q8,rtn4,gptq4,tq4 data-free:tq4@datafree,tq4,bpw=3". RECIPE may also be
// "bpw=like(LABEL)": a mixed plan at the bits per weight that the earlier row LABEL measured (an
// equal-size comparison with a uniform recipe). Errors name the bad entry.
Result<std::vector<WeightEvalRow>> parse_eval_rows(const std::string& text,
                                                   const std::string& default_method);

// The LABEL of a "bpw=like(LABEL)" recipe; empty for any other recipe.
std::string eval_row_size_of(const std::string& recipe);

// A llama.cpp row of the anchor file.
struct AnchorRow {
  std::string format;  // "Q4_K_M +imatrix"
  double bpw = 0, ppl = 0, dppl_pct = 0, kld = 0, kld_p99 = 0, top1_pct = 0;
};
// The table under the heading that names `model` ("### tq-ref-m — ...") in the anchor file.
Result<std::vector<AnchorRow>> read_anchor_table(const std::string& path, const std::string& model);

struct WeightEvalOptions {
  std::string model_path, text_path, work_dir;  // work_dir: quantized files (created if absent)
  int64_t n_ctx = 512, ppl_windows = 400, kld_windows = 50;
  QuantizeOptions quant;      // calibration text, windows, tuning; recipe/method set per row
  BenchOptions bench;         // decode test (n_gen, reps, device)
  bool keep_files = false;
  bool progress = true;
  // Resumable runs (work_dir kept between runs): a row whose result file (<work_dir>/rowNN_*.json,
  // written after the row's quality measurement) matches this row and these options, and whose
  // quantized file is still there, is read instead of measured again.
  bool resume = false;
  // > 0: start no new row once this many seconds have passed; the result then holds fewer rows
  // than asked (run again with `resume` to continue). Decode speed is measured only in the run
  // that completes every row, for all rows back to back.
  double max_seconds = 0;
  std::vector<AnchorRow> anchors;
};

struct WeightEvalResult {
  WeightEvalRow row;
  std::string recipe_canonical;
  double bpw = 0;
  uint64_t file_bytes = 0;
  double mem_reduction = 0;  // source bytes / this row's bytes
  double ppl = 0, ppl_stderr = 0, dppl_pct = 0;
  double kld = 0, kld_stderr = 0, kld_p99 = 0, top1 = 0;
  double decode_tps = 0, decode_sd = 0, speedup = 0;
  double quant_s = 0;
  QuantizeReport report;     // empty for the base row
  std::vector<int> anchors;  // indices into options.anchors printed beside this row
};

// Runs every row (or, with max_seconds, a prefix of them: fewer results than rows = not finished,
// no decode speeds yet). Errors: bad rows, quantization or evaluation errors (naming the row).
Result<std::vector<WeightEvalResult>> run_weight_eval(const WeightEvalOptions& opt,
                                                      const std::vector<WeightEvalRow>& rows);

// The comparison table (markdown) with the protocol in a header line, and the anchor rows beside
// the rows that match their size.
std::string weight_eval_markdown(const WeightEvalOptions& opt,
                                 const std::vector<WeightEvalResult>& results);
// Which targets the rows meet: for every anchor row and every rtn4 / gptq4 row, the lowest-KLD
// TurboQuant row (recipe tq* or bpw=) at no more bits per weight and the KLD ratio; a `bpw=3` row
// against every uniform `tq3` row; every `bpw=like(X)` row against row X. Markdown bullet list.
std::string weight_eval_targets(const WeightEvalOptions& opt,
                                const std::vector<WeightEvalResult>& results);
nlohmann::json weight_eval_json(const WeightEvalOptions& opt,
                                const std::vector<WeightEvalResult>& results);

}  // namespace tq
