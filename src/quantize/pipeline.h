// The quantization pipeline (`tq quantize`): source model → plan (recipe, or the allocator for a
// size budget) → per-tensor quantization with the chosen method → optional block-output tuning →
// one GGUF file (streaming writer, temp file + rename) with the tokenizer and turboquant.* keys.
//
// Steps, in order:
//   1. calibration windows from the user's text, Hessians of every linear input of the float model
//      (only when the method or the plan needs them; in passes over layer ranges when they would
//      not fit max_hessian_bytes at once);
//   2. for `bpw=B`: per tensor, the quantization at every candidate width, the Hessian-weighted
//      error tr(E H Eᵀ) at each, and the measured ΔKLD at the widths of sens_widths; ΔKLD at the
//      other widths is extrapolated from the nearest measured width by the error ratio; for the
//      embedding and an untied head also every hot-row option (hot_fractions × widths ≤ 5), each
//      measured; then the
//      exact knapsack over all unpinned tensors;
//   3. the embedding, then block by block: every tensor quantized (data-free / GPTQ / closed-form
//      scales), the block tuned (adam), encoded and written; then the output head and vectors;
//   4. with the e2e step, every matrix is held in memory after step 3 instead of written, then the
//      end-to-end scales are tuned on all of them (quantize/model_tune.h), then the file is
//      written.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "quantize/block_tune.h"
#include "quantize/calibration.h"
#include "quantize/encode.h"
#include "quantize/gptq.h"
#include "quantize/method.h"
#include "quantize/model_tune.h"
#include "quantize/plan.h"
#include "quantize/recipe.h"
#include "quantize/sensitivity.h"

namespace tq {

// Which tokens get an untied output head's hot rows (the embedding's are always the most frequent).
enum class HeadHotRule {
  kFrequency,  // the most frequent tokens of the calibration windows (the embedding's rule)
  kPredicted,  // the largest mean next-token probability of the float model over those windows
};
const char* head_hot_rule_name(HeadHotRule r);  // "freq" / "prob"

struct QuantizeOptions {
  Recipe recipe;
  Method method;
  CalibrationOptions calib;               // text_path required when the run needs calibration
  int64_t sens_windows = 4;               // windows for ΔKLD (disjoint from the Hessian windows)
  std::vector<double> sens_widths = {3};  // widths whose ΔKLD is measured; others extrapolated
  // Candidate widths of mixed plans (x.5: the fractional tq<x>.5 formats, for tensors whose rows
  // hold an even number of groups).
  std::vector<double> widths = {2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 8};
  int group = 128;                        // G of mixed plans
  // Hot-row counts a mixed plan considers for the embedding, as fractions of n_vocab (each
  // measured at every candidate width up to 5 bits; no hot rows is always a candidate).
  std::vector<double> hot_fractions = {1.0 / 32, 1.0 / 8};
  // The same for an untied output head (empty: its plans get no hot rows, as before they existed).
  std::vector<double> head_hot_fractions = {1.0 / 32, 1.0 / 8};
  HeadHotRule head_hot_rule = HeadHotRule::kFrequency;  // tokens of an untied head's hot rows
  GptqOptions gptq;
  BlockTuneOptions tune;
  ModelTuneOptions e2e;                   // the e2e step (progress follows `progress`)
  int64_t tune_windows = 32;              // calibration windows the adam step uses
  // The e2e step tunes on the first e2e_windows calibration windows (0: all but the held-out
  // ones) and keeps the result only if the KLD on the last e2e_holdout windows (at most a
  // quarter of them) went down.
  int64_t e2e_windows = 0;
  int64_t e2e_holdout = 16;
  double tune_max_bpw = 16;               // adam only for plans at or below this many bits/weight
  int64_t max_hessian_bytes = int64_t{2} << 30;
  bool dequantized_output = false;        // write f32 tensors of the dequantized values (debug)
  bool progress = true;
};

struct TensorReport {
  std::string name;
  std::string spec;           // "tq4", "gptq4", "f32" (vectors)
  std::string type;           // storage type name
  int64_t n_params = 0;
  double bpw = 0;             // of this tensor
  double weight_err = 0;      // ‖W − Ŵ‖² / ‖W‖²
  double output_err = std::numeric_limits<double>::quiet_NaN();  // tr(EHEᵀ)/tr(WHWᵀ) when H known
  double dkld = std::numeric_limits<double>::quiet_NaN();        // predicted ΔKLD (mixed plans)
  double seconds = 0;
};

struct QuantizeReport {
  std::string recipe, method;
  std::vector<TensorReport> tensors;
  int64_t n_params = 0, total_bits = 0;
  double bpw = 0;
  uint64_t file_bytes = 0;
  double predicted_dkld = std::numeric_limits<double>::quiet_NaN();
  double calib_s = 0, sens_s = 0, quant_s = 0, tune_s = 0, e2e_s = 0, total_s = 0;
  std::vector<BlockTuneReport> tune;  // per layer when adam ran
  std::optional<ModelTuneReport> e2e; // when the e2e step ran
  // Markdown table of the tensors (width, errors, time) and a totals line.
  std::string summary() const;
};

// One line on the e2e step: KLD before / after on its calibration windows, kept or not, time.
std::string e2e_summary(const ModelTuneReport& r);

// Per-tensor sensitivity of one (G, method) for the allocator.
struct TensorSensitivity {
  std::map<double, double> measured;  // width → measured ΔKLD (QuantizeOptions::sens_widths)
  std::map<double, double> proxy;     // width → tr(E H Eᵀ)
  std::map<double, double> dkld;      // width → ΔKLD, measured or extrapolated (monotone in width)
  std::map<std::pair<double, int64_t>, double> hot_dkld;  // (width, hot rows) → measured ΔKLD
};

// State shared by several runs on one model (tq eval): calibration windows, Hessians,
// sensitivity measurements. Everything is computed on first use.
class QuantizeContext {
 public:
  QuantizeContext(const Model& model, CalibrationOptions calib, int64_t sens_windows,
                  int64_t max_hessian_bytes, bool progress);
  ~QuantizeContext();

  const Model& model() const { return model_; }
  // H of one linear input (computing the layer range that holds it when needed).
  Result<const HessianSet::Entry*> hessian(const InputKey& key);
  // The Hessian when it is in memory now, else null (never computes).
  const HessianSet::Entry* hessian_if_loaded(const InputKey& key) const {
    return loaded_range_ >= 0 ? hessians_.find(key) : nullptr;
  }
  Result<const std::vector<std::vector<int32_t>>*> windows();  // the Hessian windows
  Result<SensitivityProbe*> probe();
  int64_t n_calib_tokens() const { return calib_tokens_; }
  // The `k` token ids most frequent in the calibration windows (ties to the lower id), ascending:
  // the hot rows of an embedding. kPredicted: the k largest mean next-token probabilities of the
  // float model over the same windows (one forward over them, on first use).
  Result<std::vector<int32_t>> hot_token_ids(int64_t k,
                                             HeadHotRule rule = HeadHotRule::kFrequency);

  std::map<std::string, std::map<std::string, TensorSensitivity>> sensitivity;  // key → tensor →
  double calib_seconds = 0, sens_seconds = 0;

 private:
  Status load_windows();
  const Model& model_;
  CalibrationOptions calib_;
  int64_t sens_windows_, max_hessian_bytes_;
  bool progress_;
  bool have_windows_ = false;
  std::vector<std::vector<int32_t>> windows_, sens_windows_list_;
  std::vector<int64_t> token_counts_;  // [n_vocab] occurrences in windows_
  std::vector<double> mean_probs_;     // [n_vocab] mean next-token probability over windows_
  std::vector<std::vector<InputKey>> ranges_;  // key groups that fit the memory budget
  int loaded_range_ = -1;
  HessianSet hessians_;
  int64_t calib_tokens_ = 0;
  std::unique_ptr<SensitivityProbe> probe_;
};

// Quantizes `model` into `out_path` (GGUF). `ctx` may be null (a private context is made) or
// shared between runs of the same model. Errors: recipe/format problems, missing calibration text
// when needed, I/O; no file appears at out_path unless the run succeeds.
Result<QuantizeReport> quantize_model(const Model& model, const std::string& out_path,
                                      const QuantizeOptions& opt, QuantizeContext* ctx = nullptr);

// Quantizes one tensor by `spec` and `method` (no adam). w: [n_rows, n_cols] f32, source rows.
// H: its input's Gram matrix (null when the method and spec do not need it).
Result<QuantizedTensor> quantize_tensor(const TensorPlan& t, const float* w, const Method& method,
                                        const HessianSet::Entry* H, const GptqOptions& gptq);

// The plan a mixed recipe gets from measured sensitivities (fills every unpinned tensor's spec).
// Returns the predicted Σ ΔKLD.
Result<double> allocate_plan(ModelPlan& plan, const std::map<std::string, TensorSensitivity>& sens,
                             double target_bpw, int group);

}  // namespace tq
