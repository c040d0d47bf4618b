// How a tensor's TurboQuant values are chosen (the recipe says which format; the method says how),
// as composable steps, each measurable on its own:
//   datafree   (a) rotation + least-squares group scale + nearest code, no calibration data
//   gptq       (b) + GPTQ error feedback in the rotated basis with calibration Hessians
//   lsq        (c) + closed-form learned scales (per row, minimizing tr(E H Eᵀ) with codes fixed)
//   adam       (c) + block-output learned scales (Adam through each block, quantize/block_tune.h)
//   norm       ablation: group scale = ‖v‖/√G (TurboQuant_mse) instead of the least-squares search
// Text: "datafree", "full" (= gptq+lsq+adam), or steps joined by '+', e.g. "gptq+lsq". Canonical
// order: gptq, lsq, adam, norm.
#pragma once

#include <string>

#include "tq/status.h"

namespace tq {

struct Method {
  bool gptq = false;
  bool lsq = false;
  bool adam = false;
  bool norm_scale = false;
  bool needs_calibration() const { return gptq || lsq || adam; }
  bool operator==(const Method&) const = default;
};

Result<Method> parse_method(const std::string& text);
std::string to_string(const Method& m);

}  // namespace tq
