#include "model/synth.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/half.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/gguf_convert.h"
#include "io/model_file.h"
#include "io/safetensors_writer.h"

namespace tq {
namespace {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

struct Preset {
  const char* name;
  const char* hf_arch;     // architectures[0]
  const char* model_type;  // llama / qwen2 / qwen3
  int64_t hidden, layers, heads, kv_heads, head_dim, ff, vocab, max_pos;
  double rope_theta, rms_eps;
  bool tied, qkv_bias, qk_norm, llama3_rope;
  int64_t bos, eos;
};

// Shapes and config values as published in each model's config.json.
constexpr Preset kPresets[] = {
    {"llama-3.2-1b", "LlamaForCausalLM", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072,
     500000.0, 1e-5, true, false, false, true, 128000, 128001},
    {"llama-3-8b", "LlamaForCausalLM", "llama", 4096, 32, 32, 8, 128, 14336, 128256, 8192, 500000.0,
     1e-5, false, false, false, false, 128000, 128001},
    {"qwen2.5-0.5b", "Qwen2ForCausalLM", "qwen2", 896, 24, 14, 2, 64, 4864, 151936, 32768,
     1000000.0, 1e-6, true, true, false, false, 151643, 151643},
    {"qwen3-0.6b", "Qwen3ForCausalLM", "qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 40960,
     1000000.0, 1e-6, true, false, true, false, 151643, 151645},
    // Tiny test models of each architecture variant (tests compare them with transformers).
    {"tiny-llama3", "LlamaForCausalLM", "llama", 64, 2, 4, 2, 16, 128, 320, 256, 500000.0, 1e-5,
     false, false, false, true, 256, 257},
    {"tiny-qwen2", "Qwen2ForCausalLM", "qwen2", 64, 2, 4, 2, 16, 128, 320, 256, 1000000.0, 1e-6,
     true, true, false, false, 256, 257},
    {"tiny-qwen3", "Qwen3ForCausalLM", "qwen3", 64, 2, 4, 2, 32, 128, 320, 256, 1000000.0, 1e-6,
     true, false, true, false, 256, 257},
};

enum class Init { kLinear, kEmbedding, kNorm, kBias };

struct Tensor {
  SafetensorsEntry entry;
  Init init;
};

ordered_json make_config(const Preset& p, int64_t layers, TypeId type) {
  ordered_json c;
  c["architectures"] = {p.hf_arch};
  c["model_type"] = p.model_type;
  c["hidden_size"] = p.hidden;
  c["num_hidden_layers"] = layers;
  c["num_attention_heads"] = p.heads;
  c["num_key_value_heads"] = p.kv_heads;
  c["head_dim"] = p.head_dim;
  c["intermediate_size"] = p.ff;
  c["vocab_size"] = p.vocab;
  c["max_position_embeddings"] = p.max_pos;
  c["rms_norm_eps"] = p.rms_eps;
  c["rope_theta"] = p.rope_theta;
  if (p.llama3_rope)
    c["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", p.max_pos < 8192 ? 8.0 : 32.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", p.max_pos < 8192 ? 64 : 8192}};
  c["tie_word_embeddings"] = p.tied;
  c["attention_bias"] = p.qkv_bias;
  c["hidden_act"] = "silu";
  c["bos_token_id"] = p.bos;
  c["eos_token_id"] = p.eos;
  c["torch_dtype"] = type == TypeId::f32 ? "float32" : type == TypeId::f16 ? "float16" : "bfloat16";
  c["_name_or_path"] = fmt::format("tq-synth/{}", p.name);
  c["tq_synth"] =
      fmt::format("random weights with the shapes of {} (tq synth); not a trained model", p.name);
  return c;
}

std::vector<Tensor> make_tensors(const Preset& p, int64_t layers, TypeId type) {
  std::vector<Tensor> t;
  auto add = [&](std::string name, std::vector<int64_t> shape, Init init) {
    t.push_back({{std::move(name), type, std::move(shape)}, init});
  };
  const int64_t q = p.heads * p.head_dim, kv = p.kv_heads * p.head_dim;
  add("model.embed_tokens.weight", {p.vocab, p.hidden}, Init::kEmbedding);
  for (int64_t l = 0; l < layers; ++l) {
    const std::string pre = fmt::format("model.layers.{}.", l);
    add(pre + "input_layernorm.weight", {p.hidden}, Init::kNorm);
    add(pre + "self_attn.q_proj.weight", {q, p.hidden}, Init::kLinear);
    add(pre + "self_attn.k_proj.weight", {kv, p.hidden}, Init::kLinear);
    add(pre + "self_attn.v_proj.weight", {kv, p.hidden}, Init::kLinear);
    if (p.qkv_bias) {
      add(pre + "self_attn.q_proj.bias", {q}, Init::kBias);
      add(pre + "self_attn.k_proj.bias", {kv}, Init::kBias);
      add(pre + "self_attn.v_proj.bias", {kv}, Init::kBias);
    }
    if (p.qk_norm) {
      add(pre + "self_attn.q_norm.weight", {p.head_dim}, Init::kNorm);
      add(pre + "self_attn.k_norm.weight", {p.head_dim}, Init::kNorm);
    }
    add(pre + "self_attn.o_proj.weight", {p.hidden, q}, Init::kLinear);
    add(pre + "post_attention_layernorm.weight", {p.hidden}, Init::kNorm);
    add(pre + "mlp.gate_proj.weight", {p.ff, p.hidden}, Init::kLinear);
    add(pre + "mlp.up_proj.weight", {p.ff, p.hidden}, Init::kLinear);
    add(pre + "mlp.down_proj.weight", {p.hidden, p.ff}, Init::kLinear);
  }
  add("model.norm.weight", {p.hidden}, Init::kNorm);
  if (!p.tied) add("lm_head.weight", {p.vocab, p.hidden}, Init::kLinear);
  return t;
}

// GPT-2's byte -> printable code point map (bytes_to_unicode), as UTF-8 strings.
std::vector<std::string> byte_level_alphabet() {
  std::vector<int> bs, cs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  std::vector<std::string> out(256);
  for (size_t i = 0; i < bs.size(); ++i) {
    const int c = cs[i];
    std::string u;
    if (c < 0x80) {
      u += static_cast<char>(c);
    } else {
      u += static_cast<char>(0xC0 | (c >> 6));
      u += static_cast<char>(0x80 | (c & 0x3F));
    }
    out[bs[i]] = u;
  }
  return out;
}

// A byte-level BPE tokenizer.json with the preset's vocabulary size: the 256 byte tokens, no merges
// (text encodes byte by byte), fillers "<|synth_N|>" and the preset's BOS/EOS as special tokens.
// Enough for `tq run` (meaningless text) and for `tq convert` to write tokenizer.ggml.* keys.
std::string synth_tokenizer_json(const Preset& p) {
  ordered_json vocab = ordered_json::object();
  const auto bytes = byte_level_alphabet();
  auto special_name = [&](int64_t id) -> std::string {
    if (id == p.bos) return p.hf_arch[0] == 'L' ? "<|begin_of_text|>" : "<|endoftext|>";
    if (id == p.eos) return p.hf_arch[0] == 'L' ? "<|end_of_text|>" : "<|im_end|>";
    return {};
  };
  ordered_json added = ordered_json::array();
  for (int64_t id = 0; id < p.vocab; ++id) {
    std::string name = id < 256 ? bytes[id] : special_name(id);
    const bool special = id >= 256 && !name.empty();
    if (name.empty()) name = fmt::format("<|synth_{}|>", id);
    vocab[name] = id;
    if (special)
      added.push_back({{"id", id}, {"content", name}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  ordered_json t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = added;
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  t["post_processor"] = nullptr;
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  t["model"] = {{"type", "BPE"},         {"dropout", nullptr},    {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab},
                {"merges", ordered_json::array()}};
  return t.dump() + "\n";
}

// Writes one tensor in chunks of rows; row r of tensor `index` draws from its own seeded stream.
Status write_tensor(const Tensor& t, uint64_t seed, size_t index, AtomicFile& out) {
  const auto& shape = t.entry.shape;
  const int64_t cols = shape.back();
  const int64_t rows = shape.size() == 2 ? shape[0] : 1;
  const size_t esize = t.entry.type == TypeId::f32 ? 4 : 2;
  const int64_t chunk_rows =
      std::max<int64_t>(1, (int64_t{8} << 20) / (cols * static_cast<int64_t>(esize)));
  std::vector<uint8_t> buf(static_cast<size_t>(std::min(rows, chunk_rows) * cols) * esize);
  const uint64_t tseed = mix_seed(seed, index);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - r0);
    parallel_for(n, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) {
        Rng rng(mix_seed(tseed, static_cast<uint64_t>(r0 + i)));
        uint8_t* dst = buf.data() + static_cast<size_t>(i * cols) * esize;
        for (int64_t c = 0; c < cols; ++c) {
          const double z = rng.normal();
          float v = 0;
          switch (t.init) {
            case Init::kLinear:
              v = static_cast<float>(z / std::sqrt(static_cast<double>(cols)));
              break;
            case Init::kEmbedding:
              v = static_cast<float>(0.02 * z);
              break;
            case Init::kNorm:
              v = static_cast<float>(1.0 + 0.05 * z);
              break;
            case Init::kBias:
              v = static_cast<float>(0.02 * z);
              break;
          }
          if (t.entry.type == TypeId::f32) {
            std::memcpy(dst + 4 * c, &v, 4);
          } else {
            const uint16_t h = t.entry.type == TypeId::f16 ? f32_to_f16(v) : f32_to_bf16(v);
            std::memcpy(dst + 2 * c, &h, 2);
          }
        }
      }
    });
    TQ_RETURN_IF_ERROR(out.write(buf.data(), static_cast<size_t>(n * cols) * esize));
  }
  return ok_status();
}

}  // namespace

Result<int64_t> synth_hf_folder_impl(const SynthOptions& o);

std::vector<std::string> synth_preset_names() {
  std::vector<std::string> v;
  for (const auto& p : kPresets) v.emplace_back(p.name);
  return v;
}

Result<int64_t> synth_hf_folder_impl(const SynthOptions& o) {
  const Preset* p = nullptr;
  for (const auto& c : kPresets)
    if (o.preset == c.name) p = &c;
  if (!p)
    return invalid_argument("unknown preset '{}' (known: {})", o.preset,
                            fmt::join(synth_preset_names(), ", "));
  if (o.type != TypeId::f32 && o.type != TypeId::f16 && o.type != TypeId::bf16)
    return invalid_argument(
        "tq synth writes f32, f16 or bf16 weights to a folder; quantized types need a .gguf "
        "output");
  if (o.n_layers < 0 || o.n_layers > 1000)
    return invalid_argument("--layers {} is out of range", o.n_layers);
  const int64_t layers = o.n_layers > 0 ? o.n_layers : p->layers;
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return io_error("{}: cannot create folder: {}", o.out_dir, ec.message());

  std::vector<Tensor> tensors = make_tensors(*p, layers, o.type);
  // Shards of at most max_shard_bytes (HF's layout: model-0000i-of-0000n.safetensors + index).
  std::vector<std::vector<size_t>> shards(1);
  int64_t shard_bytes = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    TQ_ASSIGN_OR_RETURN(size_t n, safetensors_entry_bytes(tensors[i].entry));
    if (!shards.back().empty() && shard_bytes + static_cast<int64_t>(n) > o.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(i);
    shard_bytes += static_cast<int64_t>(n);
    total += static_cast<int64_t>(n);
  }
  Progress progress(fmt::format("synth {}", p->name), total >> 20, o.progress);
  ordered_json weight_map;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shards.size() == 1 ? "model.safetensors"
                                                : fmt::format("model-{:05d}-of-{:05d}.safetensors",
                                                              s + 1, shards.size());
    std::vector<SafetensorsEntry> entries;
    for (size_t i : shards[s]) {
      entries.push_back(tensors[i].entry);
      weight_map[tensors[i].entry.name] = file;
    }
    TQ_RETURN_IF_ERROR(write_safetensors(
        (fs::path(o.out_dir) / file).string(), entries,
        [&](size_t k, AtomicFile& out) {
          const size_t i = shards[s][k];
          TQ_RETURN_IF_ERROR(write_tensor(tensors[i], o.seed, i, out));
          progress.step(static_cast<int64_t>(*safetensors_entry_bytes(tensors[i].entry) >> 20));
          return ok_status();
        },
        {{"format", "pt"}}));
  }
  progress.finish();
  const fs::path index = fs::path(o.out_dir) / "model.safetensors.index.json";
  if (shards.size() > 1) {
    ordered_json idx;
    idx["metadata"] = {{"total_size", total}};
    idx["weight_map"] = weight_map;
    TQ_RETURN_IF_ERROR(write_file_atomic(index.string(), idx.dump(2) + "\n"));
  } else {
    fs::remove(index, ec);  // an earlier sharded synth into the same folder would take precedence
  }
  TQ_RETURN_IF_ERROR(write_file_atomic((fs::path(o.out_dir) / "config.json").string(),
                                       make_config(*p, layers, o.type).dump(2) + "\n"));
  TQ_RETURN_IF_ERROR(write_file_atomic((fs::path(o.out_dir) / "tokenizer.json").string(), synth_tokenizer_json(*p)));
  return total;
}

}  // namespace tq

namespace tq {

Result<int64_t> synth_model(const SynthOptions& o) {
  if (!o.out_dir.ends_with(".gguf")) return synth_hf_folder_impl(o);
  // GGUF: an HF folder beside the output first, then tq convert's writer (Q/K permutation,
  // rope_freqs, f32 norms, tokenizer keys), then the folder is removed.
  SynthOptions hf = o;
  hf.out_dir = o.out_dir + ".hf.tmp";
  // A quantized target: bf16 weights first, quantized by convert's data-free reference quantizer.
  if (o.type != TypeId::f32 && o.type != TypeId::f16) hf.type = TypeId::bf16;
  TQ_ASSIGN_OR_RETURN(int64_t bytes, synth_hf_folder_impl(hf));
  Status st = [&]() -> Status {
    TQ_ASSIGN_OR_RETURN(ModelFile mf, open_hf_folder(hf.out_dir));
    ConvertOptions co;
    co.type = o.type;
    co.progress = o.progress;
    TQ_ASSIGN_OR_RETURN(ConvertSummary sum, convert_to_gguf(mf, o.out_dir, co));
    return ok_status();
  }();
  std::error_code ec;
  fs::remove_all(hf.out_dir, ec);
  TQ_RETURN_IF_ERROR(st);
  return bytes;
}

}  // namespace tq
