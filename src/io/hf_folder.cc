// Hugging Face folder loader: config.json -> llama.cpp metadata keys, safetensors -> tensors with
// llama.cpp names. Weights stay in their memory maps.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <set>

#include "core/file_util.h"
#include "io/model_file.h"
#include "io/safetensors.h"

namespace tq {
namespace fs = std::filesystem;
using nlohmann::json;

std::string hf_to_gguf_tensor_name(std::string_view hf) {
  static const std::pair<const char*, const char*> kTop[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (auto [from, to] : kTop)
    if (hf == from) return to;
  static const std::pair<const char*, const char*> kLayer[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.bias", "attn_output.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  constexpr std::string_view kPrefix = "model.layers.";
  if (hf.substr(0, kPrefix.size()) != kPrefix) return {};
  std::string_view rest = hf.substr(kPrefix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  const std::string_view layer = rest.substr(0, dot);
  for (char c : layer)
    if (c < '0' || c > '9') return {};
  const std::string_view leaf = rest.substr(dot + 1);
  for (auto [from, to] : kLayer)
    if (leaf == from) return "blk." + std::string(layer) + "." + to;
  return {};
}

namespace {

Result<json> parse_json(std::string_view text, const std::string& path) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return corrupt_file("{}: not valid JSON", path);
  return j;
}

// Reads a positive integer field; error names config.json and the key.
Result<int64_t> req_int(const json& c, const char* key, const std::string& path) {
  if (!c.contains(key) || !c[key].is_number_integer())
    return corrupt_file("{}: '{}' is missing or not an integer", path, key);
  const int64_t v = c[key].get<int64_t>();
  if (v <= 0 || v > INT32_MAX) return corrupt_file("{}: '{}' = {} is out of range", path, key, v);
  return v;
}

Status config_to_metadata(const json& c, const std::string& path, Metadata& m) {
  if (!c.is_object()) return corrupt_file("{}: not a JSON object", path);
  std::string hf_arch;
  if (c.contains("architectures") && c["architectures"].is_array() && !c["architectures"].empty() &&
      c["architectures"][0].is_string())
    hf_arch = c["architectures"][0].get<std::string>();
  const std::string model_type =
      c.contains("model_type") && c["model_type"].is_string() ? c["model_type"].get<std::string>() : std::string();
  std::string arch;
  if (hf_arch == "LlamaForCausalLM" || hf_arch == "MistralForCausalLM" || model_type == "llama" ||
      model_type == "mistral")
    arch = "llama";
  else if (hf_arch == "Qwen2ForCausalLM" || model_type == "qwen2")
    arch = "qwen2";
  else if (hf_arch == "Qwen3ForCausalLM" || model_type == "qwen3")
    arch = "qwen3";
  else
    return unsupported("{}: unknown architecture '{}' (model_type '{}'); supported: Llama, Mistral, Qwen2, Qwen3",
                       path, hf_arch, model_type);

  TQ_ASSIGN_OR_RETURN(int64_t n_embd, req_int(c, "hidden_size", path));
  TQ_ASSIGN_OR_RETURN(int64_t n_layer, req_int(c, "num_hidden_layers", path));
  TQ_ASSIGN_OR_RETURN(int64_t n_head, req_int(c, "num_attention_heads", path));
  TQ_ASSIGN_OR_RETURN(int64_t n_ff, req_int(c, "intermediate_size", path));
  TQ_ASSIGN_OR_RETURN(int64_t n_vocab, req_int(c, "vocab_size", path));
  int64_t n_head_kv = n_head;
  if (c.contains("num_key_value_heads") && !c["num_key_value_heads"].is_null()) {
    TQ_ASSIGN_OR_RETURN(n_head_kv, req_int(c, "num_key_value_heads", path));
  }
  int64_t head_dim = n_embd / n_head;
  if (c.contains("head_dim") && !c["head_dim"].is_null()) {
    TQ_ASSIGN_OR_RETURN(head_dim, req_int(c, "head_dim", path));
  }
  if (n_head % n_head_kv != 0)
    return corrupt_file("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", path, n_head,
                        n_head_kv);
  int64_t n_ctx = 2048;
  if (c.contains("max_position_embeddings")) {
    TQ_ASSIGN_OR_RETURN(n_ctx, req_int(c, "max_position_embeddings", path));
  }
  const double eps = c.contains("rms_norm_eps") && c["rms_norm_eps"].is_number() ? c["rms_norm_eps"].get<double>() : 1e-6;

  // RoPE: older configs have top-level rope_theta + rope_scaling; newer ones rope_parameters
  // {rope_theta, rope_type, factor, ...}.
  double theta = 10000.0;
  json scaling;
  if (c.contains("rope_parameters") && c["rope_parameters"].is_object()) {
    const json& rp = c["rope_parameters"];
    if (rp.contains("rope_theta") && rp["rope_theta"].is_number()) theta = rp["rope_theta"].get<double>();
    scaling = rp;
  }
  if (c.contains("rope_theta") && c["rope_theta"].is_number()) theta = c["rope_theta"].get<double>();
  if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) scaling = c["rope_scaling"];
  // Ranges that keep every value finite in the f32 metadata fields (and casts well defined).
  if (!(theta > 0 && theta < 1e30)) return corrupt_file("{}: rope_theta = {} is out of range", path, theta);
  if (!(eps > 0 && eps < 1)) return corrupt_file("{}: rms_norm_eps = {} is out of range (0, 1)", path, eps);

  const std::string a = arch + ".";
  m.set("general.architecture", MetaValue::str(arch));
  if (c.contains("_name_or_path") && c["_name_or_path"].is_string())
    m.set("general.name", MetaValue::str(c["_name_or_path"].get<std::string>()));
  m.set(a + "context_length", MetaValue::u32(static_cast<uint32_t>(n_ctx)));
  m.set(a + "embedding_length", MetaValue::u32(static_cast<uint32_t>(n_embd)));
  m.set(a + "block_count", MetaValue::u32(static_cast<uint32_t>(n_layer)));
  m.set(a + "feed_forward_length", MetaValue::u32(static_cast<uint32_t>(n_ff)));
  m.set(a + "attention.head_count", MetaValue::u32(static_cast<uint32_t>(n_head)));
  m.set(a + "attention.head_count_kv", MetaValue::u32(static_cast<uint32_t>(n_head_kv)));
  m.set(a + "attention.key_length", MetaValue::u32(static_cast<uint32_t>(head_dim)));
  m.set(a + "attention.value_length", MetaValue::u32(static_cast<uint32_t>(head_dim)));
  m.set(a + "attention.layer_norm_rms_epsilon", MetaValue::f32(static_cast<float>(eps)));
  m.set(a + "rope.freq_base", MetaValue::f32(static_cast<float>(theta)));
  m.set(a + "rope.dimension_count", MetaValue::u32(static_cast<uint32_t>(head_dim)));
  m.set(a + "vocab_size", MetaValue::u32(static_cast<uint32_t>(n_vocab)));

  std::string rope_type = "default";
  if (scaling.is_object()) {
    if (scaling.contains("rope_type") && scaling["rope_type"].is_string()) rope_type = scaling["rope_type"].get<std::string>();
    else if (scaling.contains("type") && scaling["type"].is_string()) rope_type = scaling["type"].get<std::string>();
  }
  auto num = [&](const char* key, double dflt) {
    return scaling.is_object() && scaling.contains(key) && scaling[key].is_number() ? scaling[key].get<double>() : dflt;
  };
  if (rope_type == "linear") {
    const double factor = num("factor", 1.0);
    if (!(factor > 0 && factor < 1e6)) return corrupt_file("{}: rope scaling factor {} is out of range", path, factor);
    m.set(a + "rope.scaling.type", MetaValue::str("linear"));
    m.set(a + "rope.scaling.factor", MetaValue::f32(static_cast<float>(factor)));
  } else if (rope_type == "llama3") {
    const double factor = num("factor", 8.0);
    const double low = num("low_freq_factor", 1.0), high = num("high_freq_factor", 4.0);
    const double orig_ctx = num("original_max_position_embeddings", 8192);
    if (!(factor > 0 && factor < 1e6) || !(low > 0 && low < 1e6) || !(high > low && high < 1e6) ||
        !(orig_ctx >= 1 && orig_ctx <= INT32_MAX))
      return corrupt_file("{}: llama3 rope scaling needs 0 < factor, 0 < low_freq_factor < high_freq_factor "
                          "(< 1e6) and original_max_position_embeddings >= 1",
                          path);
    // Not a llama.cpp key: llama.cpp stores llama3 scaling as a rope_freqs tensor. Our GGUF writer
    // turns these keys into that tensor; the runtime accepts either.
    m.set(a + "rope.scaling.type", MetaValue::str("llama3"));
    m.set(a + "rope.scaling.factor", MetaValue::f32(static_cast<float>(factor)));
    m.set(a + "rope.scaling.low_freq_factor", MetaValue::f32(static_cast<float>(low)));
    m.set(a + "rope.scaling.high_freq_factor", MetaValue::f32(static_cast<float>(high)));
    m.set(a + "rope.scaling.original_context_length",
          MetaValue::u32(static_cast<uint32_t>(orig_ctx)));
  } else if (rope_type != "default") {
    return unsupported("{}: rope scaling type '{}' is not supported (default, linear, llama3)", path, rope_type);
  }
  for (const char* which : {"bos", "eos"}) {
    const std::string key = std::string(which) + "_token_id";
    if (!c.contains(key) || !c[key].is_number_integer()) continue;  // null, absent or a list: not ours
    const int64_t id = c[key].get<int64_t>();
    if (id < 0 || id >= n_vocab) return corrupt_file("{}: {} = {} is outside the vocabulary of {}", path, key, id, n_vocab);
    m.set("tokenizer.ggml." + key, MetaValue::u32(static_cast<uint32_t>(id)));
  }
  m.set("general.file_type_source", MetaValue::str("huggingface"));
  return ok_status();
}

}  // namespace

Status hf_config_to_metadata(std::string_view json_text, const std::string& path, Metadata& out) {
  TQ_ASSIGN_OR_RETURN(json config, parse_json(json_text, path));
  return config_to_metadata(config, path, out);
}

Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json_text,
                                                                   const std::string& path) {
  TQ_ASSIGN_OR_RETURN(json idx, parse_json(json_text, path));
  if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
    return corrupt_file("{}: no 'weight_map' object", path);
  std::map<std::string, std::string> out;
  for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
    if (!it.value().is_string()) return corrupt_file("{}: weight_map['{}'] is not a string", path, it.key());
    const std::string f = it.value().get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f.find("..") != std::string::npos)
      return corrupt_file("{}: shard name '{}' is not a plain file name", path, f);
    out[it.key()] = f;
  }
  return out;
}

Result<ModelFile> open_hf_folder(const std::string& dir) {
  ModelFile mf;
  mf.kind = SourceKind::kHfFolder;
  mf.path = dir;
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!file_exists(config_path)) return not_found("{}: no config.json (is this a Hugging Face model folder?)", dir);
  TQ_ASSIGN_OR_RETURN(std::string config_text, read_file(config_path));
  TQ_RETURN_IF_ERROR(hf_config_to_metadata(config_text, config_path, mf.meta));

  // Which shard files: the index's weight_map, else model.safetensors.
  std::vector<std::string> shards;
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  const std::string single_path = (fs::path(dir) / "model.safetensors").string();
  std::map<std::string, std::string> expected_file;  // tensor -> shard, from the index
  if (file_exists(index_path)) {
    TQ_ASSIGN_OR_RETURN(std::string text, read_file(index_path));
    TQ_ASSIGN_OR_RETURN(expected_file, parse_safetensors_index(text, index_path));
    std::set<std::string> files;
    for (const auto& [tensor, file] : expected_file) files.insert(file);
    shards.assign(files.begin(), files.end());
  } else if (file_exists(single_path)) {
    shards.push_back("model.safetensors");
  } else {
    return not_found("{}: neither model.safetensors nor model.safetensors.index.json found", dir);
  }

  std::set<std::string> seen;
  for (const auto& shard : shards) {
    const std::string p = (fs::path(dir) / shard).string();
    TQ_ASSIGN_OR_RETURN(SafetensorsFile st, open_safetensors(p));
    mf.maps.push_back(st.map);
    for (auto& t : st.tensors) {
      if (!expected_file.empty()) {
        auto it = expected_file.find(t.name);
        if (it == expected_file.end() || it->second != shard)
          return corrupt_file("{}: tensor '{}' is not listed for this shard in model.safetensors.index.json", p, t.name);
      }
      std::string gname = hf_to_gguf_tensor_name(t.name);
      if (gname.empty()) continue;  // buffers such as rotary_emb.inv_freq
      if (!seen.insert(gname).second) return corrupt_file("{}: tensor '{}' appears twice", p, t.name);
      t.name = std::move(gname);
      mf.tensors.push_back(std::move(t));
    }
  }
  for (const auto& [name, shard] : expected_file) {
    const std::string g = hf_to_gguf_tensor_name(name);
    if (!g.empty() && !seen.count(g))
      return corrupt_file("{}: index lists tensor '{}' in {}, but that file does not contain it", index_path, name, shard);
  }
  const std::string tj = (fs::path(dir) / "tokenizer.json").string();
  const std::string tm = (fs::path(dir) / "tokenizer.model").string();
  if (file_exists(tj)) mf.tokenizer_json_path = tj;
  if (file_exists(tm)) mf.tokenizer_model_path = tm;
  return mf;
}

}  // namespace tq
