// config.json and model.safetensors.index.json parsing on text (the functions the fuzzer drives):
// malformed values are errors naming the file, never exceptions or out-of-range casts. The first
// case is a fuzzer finding (a numeric model_type threw nlohmann::type_error).
#include <gtest/gtest.h>

#include "io/model_file.h"

namespace tq {
namespace {

const std::string kBase =
    R"("architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":2,
  "num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":128,"vocab_size":100)";

Status parse(const std::string& extra) {
  Metadata m;
  return hf_config_to_metadata("{" + kBase + extra + "}", "dir/config.json", m);
}

void expect_error(const std::string& extra, const std::string& what) {
  const Status st = parse(extra);
  ASSERT_FALSE(st.ok()) << extra;
  EXPECT_EQ(st.message().rfind("dir/config.json: ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find(what), std::string::npos) << st.message();
}

TEST(HfConfig, ValidConfigs) {
  EXPECT_TRUE(parse("").ok());
  EXPECT_TRUE(
      parse(R"(,"model_type":"llama","bos_token_id":1,"eos_token_id":[2,3],"rope_theta":500000.0)")
          .ok());
  Metadata m;
  ASSERT_TRUE(
      hf_config_to_metadata("{" + kBase + R"(,"rope_scaling":{"rope_type":"llama3","factor":8.0}})",
                            "c.json", m)
          .ok());
  EXPECT_EQ(*m.get_int("llama.rope.scaling.original_context_length"), 8192);
}

TEST(HfConfig, WrongTypesAndRangesAreErrors) {
  // Not a string: ignored (architectures decides), no exception.
  EXPECT_TRUE(parse(R"(,"model_type":100)").ok());
  expect_error(R"(,"rope_theta":1e300)", "rope_theta");
  expect_error(R"(,"rope_theta":-1)", "rope_theta");
  expect_error(R"(,"rms_norm_eps":1e99)", "rms_norm_eps");
  expect_error(R"(,"rope_scaling":{"type":"linear","factor":1e300})", "factor");
  expect_error(R"(,"rope_scaling":{"rope_type":"llama3","original_max_position_embeddings":-5})",
               "original_max_position_embeddings");
  expect_error(R"(,"rope_scaling":{"rope_type":"llama3","low_freq_factor":4,"high_freq_factor":1})",
               "low_freq_factor");
  expect_error(R"(,"bos_token_id":-1)", "bos_token_id = -1 is outside the vocabulary");
  expect_error(R"(,"eos_token_id":100)", "eos_token_id = 100");
  Metadata m;
  const Status st = hf_config_to_metadata(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":4294967296})", "c.json", m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("hidden_size"), std::string::npos);
  EXPECT_FALSE(hf_config_to_metadata("[1,2]", "c.json", m).ok());
  EXPECT_FALSE(hf_config_to_metadata("", "c.json", m).ok());
}

TEST(HfConfig, SafetensorsIndex) {
  auto idx = parse_safetensors_index(
      R"({"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors"}})", "i.json");
  ASSERT_TRUE(idx.ok()) << idx.status().to_string();
  EXPECT_EQ(idx->at("b"), "m-2.safetensors");
  for (const char* bad : {R"({"weight_map":{"a":"../x.safetensors"}})",
                          R"({"weight_map":{"a":"d/x"}})", R"({"weight_map":{"a":""}})",
                          R"({"weight_map":{"a":1}})", R"({"weight_map":[]})", "[]", "{"}) {
    auto r = parse_safetensors_index(bad, "i.json");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().rfind("i.json: ", 0), 0u) << r.status().message();
  }
}

}  // namespace
}  // namespace tq
