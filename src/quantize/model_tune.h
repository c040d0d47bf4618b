// End-to-end learned scales (method step `e2e`): after every matrix is quantized, with every code
// fixed, learn one multiplier per (row, group) scale of EVERY TurboQuant tensor of the model — the
// embedding (= tied output head) and an untied head included — minimizing the mean KL divergence of
// the quantized model's next-token distribution from the float model's on calibration windows:
//
//     min_m  mean_t KL( p_float(·|t) ‖ p_quant(·|t; Ŵ(m)) )        s'[r,g] = m[r,g] · s[r,g]
//
// Adam on minibatches of windows; gradients by backprop through the head, every block and the
// embedding lookup (BlockRunner). Unlike the block-output objective (quantize/block_tune.h) this
// sees how each tensor's error reaches the logits, and it tunes the tied embedding in both of its
// roles. Tensor kinds:
//   * uniform tq<b>g<G> and fractional tq<b>.5g<G> (each group with its own width's codebook):
//     tuned;
//   * an embedding's hot rows (tq residual rows on the most frequent tokens): the residual rows'
//     own scales are tuned too (Ŵ[id_k] = stored row + hot row k);
//   * any other format (q8, rtn4, gptq4, float): fixed at its dequantized values.
// The new scales are rounded to fp16 and kept only if the mean KLD improved on held-out
// calibration windows (disjoint from the tuning windows; on the tuning windows themselves when
// none are given); otherwise every tensor is left exactly as it was. The held-out check matters:
// with ~50k multipliers and 32 windows the tuning overfits (tq-ref-s tq4: −27% KLD on its own
// windows, +1% on valid.txt; docs/RESULTS.md).
//
// Memory: one f32 copy of every weight (the current Ŵ; two for an embedding with hot rows), the
// activations of one window through every block (backward), ∂L/∂Ŵ of one block and of the
// embedding / head, and the float model's final hidden states of the tuning windows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "quantize/encode.h"

namespace tq {

struct ModelTuneOptions {
  int64_t steps = 100;        // Adam steps
  double lr = 1e-3;           // on the multipliers (start 1)
  int64_t batch_windows = 1;  // windows per step
  uint64_t seed = 0;          // minibatch order
  bool progress = false;
};

struct ModelTuneReport {
  double kld_before = 0;  // mean per token over the tuning windows, before
  double kld_tuned = 0;   // the same with the tuned (fp16-rounded) scales
  double holdout_before = 0, holdout_tuned = 0;  // the same on the held-out windows (if any)
  bool kept = false;      // the deciding KLD went down: the scales were written into the tensors
  int64_t n_windows = 0, n_holdout = 0;  // tuning / held-out windows
  int64_t n_tuned = 0, n_fixed = 0;      // tensors tuned / held fixed
  int64_t n_multipliers = 0;
  double seconds = 0;
};

// The objective as a function of the flattened multipliers of every tuned tensor (for the tuning
// loop and for gradient tests). `tensors`: every matrix the forward uses, by llama.cpp name
// ("token_embd.weight", "blk.0.attn_q.weight", ..., "output.weight" when untied); kept by pointer
// (their codes must not change; scales only change in commit()). `windows`: token windows of one
// length.
class ModelScaleObjective {
 public:
  ModelScaleObjective(const Model& model, const std::map<std::string, QuantizedTensor*>& tensors,
                      std::vector<std::vector<int32_t>> windows);
  ~ModelScaleObjective();

  int64_t n_multipliers() const;
  int64_t n_windows() const;
  int64_t n_tuned() const;  // tensors with tuned scales (a hot-row embedding counts once)
  int64_t n_fixed() const;
  // Where tensor `name`'s multipliers (or those of its hot rows) lie in the flattened vector;
  // count 0 when it has none.
  struct Range {
    int64_t offset = 0, count = 0;
  };
  Range range(const std::string& name, bool hot_rows = false) const;
  // The current multipliers, flattened (all 1 at the start).
  std::vector<float> multipliers() const;
  // Sets the multipliers (n_multipliers()) and rebuilds Ŵ, the scales fp16-rounded when `round`.
  void set_multipliers(const std::vector<float>& m, bool round);
  // Mean over windows `ws` (indices into the windows) of the mean per-token KLD at the current
  // Ŵ. With grad not null, also ∂/∂m of that value into *grad (sized n_multipliers()).
  double kld(const std::vector<int64_t>& ws, std::vector<float>* grad);
  // Mean KLD over every window.
  double kld_all();
  // Writes s := fp16(m·s) into every tuned tensor.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs the tuning (Adam, opt.steps steps on `windows`) and commits the scales when the KLD on
// `holdout` (or, when it is empty, on `windows`) improved. All windows of one length.
ModelTuneReport tune_model_scales(const Model& model,
                                  const std::map<std::string, QuantizedTensor*>& tensors,
                                  const std::vector<std::vector<int32_t>>& windows,
                                  const std::vector<std::vector<int32_t>>& holdout,
                                  const ModelTuneOptions& opt);

}  // namespace tq
