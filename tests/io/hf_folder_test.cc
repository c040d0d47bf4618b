#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/half.h"
#include "io/model_file.h"
#include "io/safetensors.h"
#include "../common/scratch_dir.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kRefS = std::string(TQ_SHARED_DATA) + "/models/tq-ref-s";
const std::string kRefM = std::string(TQ_SHARED_DATA) + "/models/tq-ref-m";

std::string scratch_dir(const std::string& name) {
  auto d = testing::scratch_dir("io_test") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

TEST(HfFolder, OpensTqRefS) {
  auto mf = open_hf_folder(kRefS);
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  EXPECT_EQ(mf->architecture(), "llama");
  EXPECT_EQ(*mf->meta.get_int("llama.embedding_length"), 256);
  EXPECT_EQ(*mf->meta.get_int("llama.block_count"), 6);
  EXPECT_EQ(*mf->meta.get_int("llama.attention.head_count_kv"), 2);
  EXPECT_EQ(*mf->meta.get_int("llama.attention.key_length"), 64);
  EXPECT_FLOAT_EQ(*mf->meta.get_float("llama.rope.freq_base"), 10000.0);
  const TensorInfo* q = mf->find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, TypeId::bf16);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(mf->find("output.weight"), nullptr);  // tied embeddings
  ASSERT_NE(mf->find("token_embd.weight"), nullptr);
  EXPECT_EQ(mf->tensors.size(), 2u + 6u * 9u);
  EXPECT_FALSE(mf->tokenizer_json_path.empty());
}

TEST(HfFolder, OpensShardedTqRefM) {
  auto mf = open_hf_folder(kRefM);
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  EXPECT_EQ(mf->maps.size(), 4u);
  EXPECT_EQ(*mf->meta.get_int("llama.attention.key_length"), 128);
  EXPECT_EQ(mf->tensors.size(), 2u + 6u * 9u);
}

TEST(HfFolder, TensorNameMapping) {
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.12.mlp.down_proj.weight"), "blk.12.ffn_down.weight");
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.3.self_attn.k_proj.bias"), "blk.3.attn_k.bias");
  EXPECT_EQ(hf_to_gguf_tensor_name("model.layers.x.mlp.down_proj.weight"), "");
  EXPECT_EQ(hf_to_gguf_tensor_name("model.rotary_emb.inv_freq"), "");
}

TEST(HfFolder, RopeParametersAndRopeThetaForms) {
  const std::string d = scratch_dir("rope");
  fs::copy_file(kRefS + "/model.safetensors", d + "/model.safetensors");
  write_bytes(d + "/config.json", R"({"architectures":["LlamaForCausalLM"],"hidden_size":256,
    "num_hidden_layers":6,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":768,
    "vocab_size":8192,"rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":32.0,
    "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}})");
  auto mf = open_hf_folder(d);
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  EXPECT_FLOAT_EQ(*mf->meta.get_float("llama.rope.freq_base"), 500000.0);
  EXPECT_EQ(*mf->meta.get_string("llama.rope.scaling.type"), "llama3");
  EXPECT_FLOAT_EQ(*mf->meta.get_float("llama.rope.scaling.factor"), 32.0);
  EXPECT_EQ(*mf->meta.get_int("llama.attention.key_length"), 64);  // hidden / heads
}

TEST(HfFolder, BadConfigsGiveClearErrors) {
  const std::string d = scratch_dir("badcfg");
  fs::copy_file(kRefS + "/model.safetensors", d + "/model.safetensors");
  write_bytes(d + "/config.json", R"({"architectures":["GPTNeoXForCausalLM"],"model_type":"gpt_neox"})");
  auto r = open_hf_folder(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown architecture 'GPTNeoXForCausalLM'"), std::string::npos);
  EXPECT_NE(r.status().message().find("config.json"), std::string::npos);

  write_bytes(d + "/config.json", R"({"architectures":["LlamaForCausalLM"], "hidden_size": 256)");
  r = open_hf_folder(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos);

  write_bytes(d + "/config.json", R"({"architectures":["LlamaForCausalLM"],"hidden_size":256})");
  r = open_hf_folder(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("num_hidden_layers"), std::string::npos);
}

TEST(Safetensors, ValidFile) {
  const std::string p = scratch_dir("st") + "/a.safetensors";
  std::string data(8, '\0');
  const float v[2] = {1.5f, -2.0f};
  std::memcpy(data.data(), v, 8);
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}})", data));
  auto st = open_safetensors(p);
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  ASSERT_EQ(st->tensors.size(), 1u);
  float got[2];
  std::memcpy(got, st->tensors[0].data, 8);
  EXPECT_EQ(got[0], 1.5f);
  EXPECT_EQ(got[1], -2.0f);
}

TEST(Safetensors, CorruptFilesAreRejectedWithTheFileName) {
  const std::string d = scratch_dir("stbad");
  struct Case {
    const char* name;
    std::string bytes;
    const char* expect;
  } cases[] = {
      {"short", "abc", "too small"},
      {"hugehdr", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "exceeds the file size"},
      {"notjson", safetensors_bytes("{not json", ""), "not a JSON object"},
      {"dtype", safetensors_bytes(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x"), "unsupported dtype"},
      {"oob", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", "12345678"), "outside the data section"},
      {"size", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"), "needs 12"},
      {"shape", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", "12345678"), "bad shape"},
      {"entry", safetensors_bytes(R"({"w":{"dtype":"F32"}})", ""), "malformed"},
      // Issue 12: overlapping byte ranges loaded silently (two names for shared bytes).
      {"overlap", safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}})", "12345678"),
       "tensors 'a' and 'b' overlap in the data section ([0, 8) and [4, 8))"},
      {"huge", safetensors_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", "12345678"),
       "shape [4294967296, 4294967296] overflows"},
  };
  for (const auto& c : cases) {
    const std::string p = d + "/" + c.name + ".safetensors";
    write_bytes(p, c.bytes);
    auto st = open_safetensors(p);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_NE(st.status().message().find(p), std::string::npos) << st.status().message();
    EXPECT_NE(st.status().message().find(c.expect), std::string::npos) << c.name << ": " << st.status().message();
  }
}

TEST(Safetensors, TruncatedModelFile) {
  const std::string d = scratch_dir("trunc");
  std::ifstream in(kRefS + "/model.safetensors", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  write_bytes(d + "/model.safetensors", all.substr(0, all.size() / 2));
  fs::copy_file(kRefS + "/config.json", d + "/config.json");
  auto r = open_hf_folder(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace tq
