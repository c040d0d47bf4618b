// Shared by the perplexity tests: the reference models with corpus/valid.txt tokenized whole.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "eval/perplexity.h"
#include "io/tokenizer.h"
#include "../common/test_result.h"

namespace tq {

inline const std::string kData = TQ_SHARED_DATA;

struct Loaded {
  std::unique_ptr<Model> model;
  std::vector<int32_t> ids;  // valid.txt tokenized whole
};

inline Loaded load(const std::string& name) {
  Loaded l;
  auto m = load_model(kData + "/models/" + name);
  testing::ok_or_throw(m.status());
  l.model = std::move(*m);
  auto tok = Tokenizer::from_model_file(l.model->file);
  EXPECT_TRUE(tok.ok()) << tok.status().to_string();
  auto text = read_file(kData + "/corpus/valid.txt");
  testing::ok_or_throw(text.status());
  l.ids = (*tok)->encode(*text, /*add_special=*/true);
  return l;
}

inline nlohmann::json json_file(const std::string& path) {
  return nlohmann::json::parse(*read_file(path));
}

inline std::unique_ptr<Session> session(const Model& m, const std::string& kv = "f16") {
  SessionOptions so;
  so.n_ctx = 512;
  so.n_batch = 512;
  so.kv.k_type = so.kv.v_type = kv;
  auto s = Session::create(m, so);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return std::move(s).value();
}

}  // namespace tq
