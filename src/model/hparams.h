// Hyper-parameters of a Llama-family model, read from ModelFile metadata (llama.cpp keys; the HF
// loader translates config.json into the same keys) and validated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_file.h"
#include "tq/status.h"

namespace tq {

// Architectures of the Llama family. Mistral is `llama` (as in GGUF).
enum class Arch {
  kLlama,  // llama, mistral: no biases, no q/k norm
  kQwen2,  // q/k/v projections carry a bias
  kQwen3,  // RMSNorm over each q and k head (attn_q_norm / attn_k_norm), before RoPE
};
const char* arch_name(Arch a);

enum class RopeScaling { kNone, kLinear, kLlama3 };

struct RopeParams {
  double freq_base = 10000.0;  // theta
  int64_t n_rot = 0;           // rotated dimensions per head (<= head_dim, even)
  RopeScaling scaling = RopeScaling::kNone;
  double factor = 1.0;              // linear and llama3
  double low_freq_factor = 1.0;     // llama3
  double high_freq_factor = 4.0;    // llama3
  int64_t original_context = 8192;  // llama3
};

struct HParams {
  Arch arch = Arch::kLlama;
  std::string arch_key;  // "llama", "qwen2", "qwen3": the metadata key prefix
  int64_t n_vocab = 0;
  int64_t n_embd = 0;  // hidden size
  int64_t n_layer = 0;
  int64_t n_head = 0;       // query heads
  int64_t n_head_kv = 0;    // key/value heads (GQA: n_head % n_head_kv == 0)
  int64_t head_dim = 0;     // key/value length per head
  int64_t n_ff = 0;         // feed-forward (SwiGLU) width
  int64_t n_ctx_train = 0;  // context length the model was trained for
  float rms_eps = 1e-5f;
  RopeParams rope;

  int64_t q_dim() const { return n_head * head_dim; }      // rows of attn_q
  int64_t kv_dim() const { return n_head_kv * head_dim; }  // rows of attn_k / attn_v
  int64_t n_gqa() const { return n_head / n_head_kv; }
  std::string to_string()
      const;  // one line for logs: "llama, 6 layers, d 256, heads 4/2x64, ff 768"
};

// Reads and validates the hyper-parameters. n_vocab comes from "<arch>.vocab_size" or, when absent
// (many GGUFs), from the rows of token_embd.weight. Errors name the file (mf.path) and the key.
Result<HParams> read_hparams(const ModelFile& mf);

// Per-pair inverse frequencies of the rotary embedding after scaling: inv_freq[i] for i < n_rot/2,
// angle(pos, i) = pos * inv_freq[i]. `freq_factors` (a GGUF rope_freqs.weight, may be empty)
// divides the frequencies as in llama.cpp; it takes the place of rope.scaling for llama3 models.
std::vector<double> rope_inv_freq(const RopeParams& rope, const std::vector<float>& freq_factors);

}  // namespace tq
