// The stages of quantize_model (quantize/pipeline.h), each with its contract:
//   calibration      QuantizeContext (context.cc): windows, Hessians, hot-row tokens, the probe,
//                    all computed on first use and shared between runs of one model;
//   sensitivity      plan_mixed_precision (mixed_plan.cc): for a bpw= recipe, every unpinned
//                    tensor's ΔKLD at the candidate widths and hot-row options, then the knapsack;
//   quantization     TensorProducer (produce.cc): the embedding, each block's seven matrices (with
//                    block-output tuning), an untied head — in file order, on demand;
//   writing          QuantizedFileWriter (writer.cc): llama.cpp's layout (io/gguf_layout.h),
//                    turboquant.* metadata, each tensor encoded and streamed to the file.
// quantize_model (pipeline.cc) runs them in that order, with the e2e step between producing and
// writing when the method has it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf_layout.h"
#include "io/gguf_writer.h"
#include "quantize/pipeline.h"

namespace tq {

// The source values of a tensor of the model's file as f32 [n_rows, n_cols] (its own row order).
std::vector<float> load_f32(const TensorInfo& ti);
// The block index of "blk.<L>.…", else −1.
int64_t layer_of(const std::string& name);
// Whether tensor `t`'s quantization under method `m` reads its input's Hessian.
bool needs_hessian(const TensorPlan& t, const Method& m);

// quantize_tensor plus, for a tq spec with hot rows, the hot rows (their tokens from the
// calibration windows by opt.head_hot_rule for a head, frequency for the embedding).
Result<QuantizedTensor> quantize_planned(const TensorPlan& t, const float* w, const Method& m,
                                         const HessianSet::Entry* H, const QuantizeOptions& opt,
                                         QuantizeContext& ctx);

// ---- sensitivity ----
struct MixedPlan {
  double predicted_total = 0;                // Σ ΔKLD of the chosen specs
  std::map<std::string, double> predicted;   // tensor → its predicted ΔKLD
};
// For a recipe with a bits-per-weight target: measures (or takes from ctx.sensitivity) every
// unpinned tensor's sensitivity, then assigns every unpinned spec of `plan` by the exact
// knapsack. Errors: bad candidate / measured widths, a tensor no measured width fits.
Result<MixedPlan> plan_mixed_precision(const Model& model, const QuantizeOptions& opt,
                                       QuantizeContext& ctx, ModelPlan& plan);

// ---- writing ----
class QuantizedFileWriter {
 public:
  // Declares every tensor of `plan` in llama.cpp's order — each matrix followed by its side
  // tensors (a fractional tq group map "<name>.tq_map"; hot rows "<m>.hot.weight" then
  // "<m>.hot_ids"), rope_freqs when the layout adds it — with the source's metadata and the
  // turboquant.* keys of `rep` (recipe, method, bpw), and opens the temporary file.
  static Result<std::unique_ptr<QuantizedFileWriter>> create(const Model& model,
                                                             const ModelPlan& plan,
                                                             const QuantizeOptions& opt,
                                                             const QuantizeReport& rep,
                                                             const std::string& out_path);
  // The tensors in file order (rope_freqs, when added, has role kVector).
  const std::vector<const TensorPlan*>& order() const { return order_; }
  // Encodes the final values of matrix `t` (and its side tensors), kept until write(t).
  Status encode(const TensorPlan& t, const QuantizedTensor& q);
  // Writes tensor `t` — the next one in order() — and its side tensors: a matrix from encode(),
  // a vector from the source (Q/K bias rows permuted as the layout says), rope_freqs from the
  // layout. Error when a matrix was not encoded.
  Status write(const TensorPlan& t);
  // Completes the file (rename over out_path). Returns its size.
  Result<uint64_t> finish();

 private:
  QuantizedFileWriter(const Model& model, const QuantizeOptions& opt, GgufLayout layout)
      : model_(model), opt_(opt), layout_(std::move(layout)) {}
  std::vector<GgufTensorDecl> side_decls(const TensorPlan& t) const;
  const Model& model_;
  const QuantizeOptions& opt_;
  GgufLayout layout_;
  TensorPlan rope_plan_;
  std::vector<const TensorPlan*> order_;
  std::unique_ptr<GgufWriter> writer_;
  std::map<std::string, std::vector<uint8_t>> ready_;  // encoded, not yet written
};

// ---- per-layer quantization ----
// A matrix whose values are chosen: its plan, values, source values (for the error report) and
// the Hessian its quantization read.
using FinishFn = std::function<Status(const TensorPlan& t, QuantizedTensor q,
                                      const std::vector<float>& w, const HessianSet::Entry* H,
                                      double seconds)>;

class TensorProducer {
 public:
  // `finish` receives every matrix once, in file order; adam block tuning runs when
  // opt.method.adam and the plan's bpw is at most opt.tune_max_bpw (reports into tune_reports).
  TensorProducer(const Model& model, const ModelPlan& plan, const QuantizeOptions& opt,
                 QuantizeContext& ctx, FinishFn finish);
  // Produces what matrix `t` needs: blocks up to its layer (each block's seven matrices together,
  // so the block can be tuned), or the embedding / head itself. Idempotent per tensor.
  Status produce(const TensorPlan& t);

  std::vector<BlockTuneReport> tune_reports;
  double tune_seconds = 0;

 private:
  Status prepare_tuning();
  Status produce_layer(int64_t layer);
  Status produce_single(const TensorPlan& t);
  // Loads and quantizes one matrix; w receives its source values, H the Hessian it read.
  Result<QuantizedTensor> quantize_one(const TensorPlan& t, std::vector<float>& w,
                                       const HessianSet::Entry** H);

  const Model& model_;
  const ModelPlan& plan_;
  const QuantizeOptions& opt_;
  QuantizeContext& ctx_;
  FinishFn finish_;
  bool tune_ = false;
  int64_t produced_layer_ = -1;
  std::map<std::string, bool> produced_;  // embedding / head
  std::unique_ptr<BlockRunner> runner_;   // block tuning
  std::vector<std::vector<int32_t>> tune_windows_;
  int64_t T_ = 0;
  std::vector<float> h_f_, h_q_;  // [n_tune · T · E] float / quantized model hidden states
};

}  // namespace tq
