// How a tensor's TurboQuant values are chosen (the recipe says which format; the method says how),
// as composable steps, each measurable on its own:
//   datafree   (a) rotation + least-squares group scale + nearest code, no calibration data
//   gptq       (b) + GPTQ error feedback in the rotated basis with calibration Hessians
//   lsq        (c) + closed-form learned scales (per row, minimizing tr(E H Eᵀ) with codes fixed)
//   adam       (c) + block-output learned scales (Adam through each block, quantize/block_tune.h)
//   e2e        + end-to-end learned scales after every tensor is quantized (Adam on the model's KLD
//              to the float model over calibration windows, quantize/model_tune.h); opt-in
//   norm       ablation: group scale = ‖v‖/√G (TurboQuant_mse) instead of the least-squares search
// Text: "datafree", "full" (= gptq+lsq+adam), or steps joined by '+', e.g. "gptq+lsq", "full+e2e"
// ("full" as a step = gptq+lsq+adam). Canonical order: gptq, lsq, adam, e2e, norm; gptq+lsq+adam
// is written "full".
#pragma once

#include <string>

#include "tq/status.h"

namespace tq {

struct Method {
  bool gptq = false;
  bool lsq = false;
  bool adam = false;
  bool e2e = false;
  bool norm_scale = false;
  bool needs_calibration() const { return gptq || lsq || adam || e2e; }
  bool operator==(const Method&) const = default;
};

Result<Method> parse_method(const std::string& text);
std::string to_string(const Method& m);

}  // namespace tq
