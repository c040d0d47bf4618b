#include "quantize/calibration.h"

#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "core/file_util.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/tokenizer.h"
#include "quantize/linalg.h"
#include "runtime/session.h"

namespace tq {
namespace {

int64_t input_width(const HParams& hp, LinearInput w) {
  switch (w) {
    case LinearInput::kAttnIn:
    case LinearInput::kFfnIn:
    case LinearInput::kHead:
      return hp.n_embd;
    case LinearInput::kAttnOut:
      return hp.q_dim();
    case LinearInput::kFfnDown:
      return hp.n_ff;
  }
  return 0;
}

class HessianObserver final : public ForwardObserver {
 public:
  HessianObserver(HessianSet& set, const std::set<InputKey>& keys) : set_(set), keys_(keys) {}
  void on_linear_input(int64_t layer, LinearInput which, const float* x, int64_t n_tokens,
                       int64_t n_cols) override {
    const InputKey key{layer, which};
    if (!keys_.count(key)) return;
    HessianSet::Entry& e = set_.h[key];
    if (e.H.empty()) {
      e.n = n_cols;
      e.H.assign(static_cast<size_t>(n_cols * n_cols), 0.0);
    }
    // One window's XᵀX in float (upper triangle), added into the double accumulator.
    tmp_.resize(static_cast<size_t>(n_cols * n_cols));
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(n_cols),
                static_cast<int>(n_tokens), 1.0f, x, static_cast<int>(n_cols), 0.0f, tmp_.data(),
                static_cast<int>(n_cols));
    for (int64_t i = 0; i < n_cols; ++i)
      for (int64_t j = i; j < n_cols; ++j) e.H[i * n_cols + j] += tmp_[i * n_cols + j];
  }

 private:
  HessianSet& set_;
  const std::set<InputKey>& keys_;
  std::vector<float> tmp_;
};

}  // namespace

Result<std::vector<std::vector<int32_t>>> calibration_windows(const Model& model,
                                                              const CalibrationOptions& opt,
                                                              int64_t n_extra) {
  if (opt.n_ctx <= 1) return invalid_argument("calibration window of {} tokens", opt.n_ctx);
  if (opt.n_windows < 0 || n_extra < 0) return invalid_argument("negative window count");
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(model.file));
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(opt.text_path));
  if (static_cast<int64_t>(text.size()) > opt.max_text_bytes) {
    size_t cut = static_cast<size_t>(opt.max_text_bytes);
    const size_t nl = text.rfind('\n', cut);
    if (nl != std::string::npos && nl > cut / 2) cut = nl + 1;
    text.resize(cut);
  }
  const std::vector<int32_t> ids = tok->encode(text, /*add_special=*/true);
  const int64_t n_slots = static_cast<int64_t>(ids.size()) / opt.n_ctx;
  const int64_t need = opt.n_windows + n_extra;
  if (n_slots < need)
    return invalid_argument(
        "{}: {} tokens hold {} windows of {}, but calibration needs {} (a longer text, or fewer "
        "--calib-windows)",
        opt.text_path, ids.size(), n_slots, opt.n_ctx, need);
  std::vector<int64_t> slots(static_cast<size_t>(n_slots));
  for (int64_t i = 0; i < n_slots; ++i) slots[i] = i;
  Rng rng(mix_seed(opt.seed, 0x63616c6962ull));
  for (int64_t i = 0; i < need; ++i)  // partial Fisher–Yates: the first `need` slots
    std::swap(slots[i], slots[i + static_cast<int64_t>(rng.below(n_slots - i))]);
  std::vector<std::vector<int32_t>> out;
  for (int64_t i = 0; i < need; ++i) {
    const int32_t* p = ids.data() + slots[i] * opt.n_ctx;
    out.emplace_back(p, p + opt.n_ctx);
  }
  return out;
}

bool input_key_of(const std::string& name, int64_t n_layer, InputKey* key) {
  if (name == "output.weight" || name == "token_embd.weight") {
    *key = {n_layer, LinearInput::kHead};
    return true;
  }
  if (!name.starts_with("blk.")) return false;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos) return false;
  const int64_t layer = std::strtoll(name.c_str() + 4, nullptr, 10);
  const std::string rest = name.substr(dot + 1);
  static const std::pair<const char*, LinearInput> kMap[] = {
      {"attn_q.weight", LinearInput::kAttnIn},     {"attn_k.weight", LinearInput::kAttnIn},
      {"attn_v.weight", LinearInput::kAttnIn},     {"attn_output.weight", LinearInput::kAttnOut},
      {"ffn_gate.weight", LinearInput::kFfnIn},    {"ffn_up.weight", LinearInput::kFfnIn},
      {"ffn_down.weight", LinearInput::kFfnDown}};
  for (const auto& [n, w] : kMap)
    if (rest == n) {
      *key = {layer, w};
      return true;
    }
  return false;
}

std::vector<InputKey> all_input_keys(const Model& model) {
  std::vector<InputKey> keys;
  for (int64_t l = 0; l < model.hp.n_layer; ++l)
    for (LinearInput w : {LinearInput::kAttnIn, LinearInput::kAttnOut, LinearInput::kFfnIn,
                          LinearInput::kFfnDown})
      keys.push_back({l, w});
  keys.push_back({model.hp.n_layer, LinearInput::kHead});
  return keys;
}

int64_t hessian_bytes(const Model& model, const std::vector<InputKey>& keys) {
  int64_t total = 0;
  for (const auto& k : keys) {
    const int64_t n = input_width(model.hp, k.second);
    total += n * n * static_cast<int64_t>(sizeof(double));
  }
  return total;
}

Result<HessianSet> collect_hessians(const Model& model,
                                    const std::vector<std::vector<int32_t>>& windows,
                                    const std::vector<InputKey>& keys_in, bool progress) {
  const std::vector<InputKey> keys = keys_in.empty() ? all_input_keys(model) : keys_in;
  const std::set<InputKey> key_set(keys.begin(), keys.end());
  const bool need_head = key_set.count({model.hp.n_layer, LinearInput::kHead}) > 0;
  HessianSet set;
  if (windows.empty()) return set;
  const int64_t n_ctx = static_cast<int64_t>(windows[0].size());
  SessionOptions so;
  so.n_ctx = n_ctx;
  so.n_batch = n_ctx;
  TQ_ASSIGN_OR_RETURN(auto session, Session::create(model, so));
  HessianObserver obs(set, key_set);
  session->set_observer(&obs);
  sync_blas_threads();
  Progress bar("calibrate", static_cast<int64_t>(windows.size()), progress);
  for (const auto& w : windows) {
    session->reset();
    TQ_RETURN_IF_ERROR(session->eval(w, need_head ? LogitsMode::kAll : LogitsMode::kNone));
    set.n_tokens += static_cast<int64_t>(w.size());
    bar.step(1);
  }
  bar.finish();
  session->set_observer(nullptr);
  for (auto& [k, e] : set.h)  // mirror the upper triangle
    for (int64_t i = 0; i < e.n; ++i)
      for (int64_t j = i + 1; j < e.n; ++j) e.H[j * e.n + i] = e.H[i * e.n + j];
  return set;
}

}  // namespace tq
