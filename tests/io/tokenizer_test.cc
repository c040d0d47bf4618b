// Tokenizer unit tests on small hand-written tokenizers: SentencePiece-style tokenizer.json (byte
// fallback, Prepend/Replace normalizers, Strip decoder), split behaviors, streaming decode, and
// bad input (malformed JSON, unknown types, unknown merge tokens, bad GGUF metadata, bad ids).
#include "io/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/file_util.h"
#include "io/model_file.h"
#include "io/tokenizer_text.h"
#include "../common/scratch_dir.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kFixtures = std::string(TQ_SOURCE_DIR) + "/tests/data/tokenizer/";

std::unique_ptr<Tokenizer> from_json(const std::string& text) {
  auto t = Tokenizer::from_tokenizer_json_text(text, "test.json");
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(t).value() : nullptr;
}

Status json_error(const std::string& text) {
  auto t = Tokenizer::from_tokenizer_json_text(text, "bad/tokenizer.json");
  return t.ok() ? ok_status() : t.status();
}

std::string scratch_dir(const std::string& name) {
  auto d = testing::scratch_dir("tok_test") / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// Llama-2-style tokenizer.json: BPE over characters with byte fallback, ▁ for spaces.
const char* kSpmStyleJson = R"({
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true},
    {"id": 1, "content": "<s>", "special": true},
    {"id": 2, "content": "</s>", "special": true}],
  "normalizer": {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": "▁"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
  "decoder": {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xF0>": 4, "<0x9F>": 5, "<0x99>": 6,
              "<0x82>": 7, "▁": 8, "h": 9, "i": 10, "▁h": 11, "▁hi": 12, "!": 13},
    "merges": ["▁ h", ["▁h", "i"]]}
})";

TEST(TokenizerJson, SentencePieceStyleBpeWithByteFallback) {
  auto t = from_json(kSpmStyleJson);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_TRUE(t->adds_bos());
  EXPECT_EQ(t->unk_id(), 0);
  const std::vector<int32_t> want = {1, 12, 12, 13, 3, 4, 5, 6, 7};
  EXPECT_EQ(t->encode("hi hi!\n🙂", true), want);
  EXPECT_EQ(t->encode("hi hi!\n🙂", false), std::vector<int32_t>(want.begin() + 1, want.end()));
  EXPECT_EQ(t->decode(want), "<s> hi hi!\n🙂");
  EXPECT_EQ(t->decode(want, /*skip_special=*/true), "hi hi!\n🙂");
  // Unknown characters without byte tokens: one fused <unk>.
  EXPECT_EQ(t->encode("xyz", false), (std::vector<int32_t>{8, 0}));
  // Special tokens in the text split it; the normalizer runs on each side separately.
  EXPECT_EQ(t->encode("hi</s>hi", false), (std::vector<int32_t>{12, 2, 12}));
}

// Issue 12: a special token that tokenizer_config.json names but the vocabulary lacks used to be
// a silent "none"; a generation_config.json eos id outside the vocabulary was dropped.
TEST(TokenizerJson, SpecialTokensOutsideTheVocabularyAreErrors) {
  const std::string d = scratch_dir("special");
  std::ofstream(d + "/tokenizer.json") << kSpmStyleJson;
  std::ofstream(d + "/tokenizer_config.json") << R"({"bos_token": "<s>", "eos_token": "<|end|>"})";
  auto t = Tokenizer::from_tokenizer_json(d + "/tokenizer.json");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            d + "/tokenizer.json: tokenizer_config.json eos_token '<|end|>' is not in the vocabulary");
  std::ofstream(d + "/tokenizer_config.json") << R"({"bos_token": "<s>", "eos_token": {"content": "</s>"}, "pad_token": null})";
  t = Tokenizer::from_tokenizer_json(d + "/tokenizer.json");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->eos_id(), 2);

  // An HF folder: generation_config.json's eos ids must be in the vocabulary too.
  const std::string ref = std::string(TQ_SHARED_DATA) + "/models/tq-ref-s";
  if (!fs::exists(ref)) GTEST_SKIP() << "no shared data";
  const std::string f = scratch_dir("generation");
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json"})
    fs::create_symlink(ref + "/" + name, f + "/" + name);
  std::ofstream(f + "/generation_config.json") << R"({"eos_token_id": [0, 8192]})";
  auto mf = open_model(f);
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  auto g = Tokenizer::from_model_file(*mf);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(),
            f + "/generation_config.json: eos_token_id 8192 is outside the vocabulary of 8192 tokens");
}

// Vocab a, b, -, a-, -b with merges "a -" then "- b": the grouping of pieces decides the ids.
std::string split_json(const std::string& behavior, bool invert = false) {
  return R"({"pre_tokenizer": {"type": "Split", "pattern": {"String": "-"}, "behavior": ")" +
         behavior + R"(", "invert": )" + (invert ? "true" : "false") +
         R"(}, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "-": 2, "a-": 3, "-b": 4},
         "merges": ["a -", "- b"]}})";
}

TEST(TokenizerJson, SplitBehaviors) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(from_json(split_json("Isolated"))->encode("a-b", false), (V{0, 2, 1}));
  EXPECT_EQ(from_json(split_json("Removed"))->encode("a-b", false), (V{0, 1}));
  EXPECT_EQ(from_json(split_json("MergedWithPrevious"))->encode("a-b", false), (V{3, 1}));
  EXPECT_EQ(from_json(split_json("MergedWithNext"))->encode("a-b", false), (V{0, 4}));
  EXPECT_EQ(from_json(split_json("Contiguous"))->encode("a--b", false), (V{0, 2, 2, 1}));
  // invert: the pattern marks what to keep; "-" is the delimiter in the other sense.
  EXPECT_EQ(from_json(split_json("Removed", true))->encode("a-b", false), (V{2}));
}

TEST(TokenizerJson, MetaspaceAndDigits) {
  auto t = from_json(R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true},
      {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}]},
    "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"},
    "model": {"type": "BPE", "vocab": {"▁": 0, "a": 1, "1": 2, "2": 3, "12": 4, "▁a": 5}, "merges": ["1 2", "▁ a"]}})");
  ASSERT_TRUE(t);
  // "a12 a": digits isolated (no "12"), spaces -> ▁, a ▁ prepended only at the very start.
  EXPECT_EQ(t->encode("a12 a", false), (std::vector<int32_t>{5, 2, 3, 5}));
  EXPECT_EQ(t->decode(t->encode("a12 a", false)), "a12 a");
}

TEST(TokenizerJson, BadInputGivesErrorsNamingTheFile) {
  struct Case {
    std::string json;
    StatusCode code;
    const char* expect;
  } cases[] = {
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [)", StatusCode::kCorruptFile,
       "not valid JSON"},
      {"[]", StatusCode::kCorruptFile, "not a JSON object"},
      {R"({"version": "1.0"})", StatusCode::kCorruptFile, "no 'model'"},
      {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", StatusCode::kUnsupported,
       "'WordPiece'"},
      {R"({"model": {"type": "BPE", "merges": []}})", StatusCode::kCorruptFile, "no 'vocab'"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", StatusCode::kCorruptFile, "no 'merges'"},
      {R"({"model": {"type": "BPE", "vocab": {}, "merges": []}})", StatusCode::kCorruptFile,
       "empty"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a zz"]}})",
       StatusCode::kCorruptFile, "refers to 'zz'"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})",
       StatusCode::kCorruptFile, "refers to 'ab'"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})",
       StatusCode::kCorruptFile, "merge #0"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})", StatusCode::kCorruptFile,
       "merge #0"},
      {R"({"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}})", StatusCode::kCorruptFile,
       "out of range"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}, "merges": []}})",
       StatusCode::kCorruptFile, "out of range"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}})",
       StatusCode::kCorruptFile, "share id"},
      {R"({"model": {"type": "BPE", "vocab": {"a": "x"}, "merges": []}})", StatusCode::kCorruptFile,
       "integer id"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})",
       StatusCode::kCorruptFile, "unk_token"},
      {R"({"added_tokens": [{"id": 3}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kCorruptFile, "added_tokens[0]"},
      {R"({"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kUnsupported, "BertPreTokenizer"},
      {R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kInvalidArgument, "does not compile"},
      {R"({"normalizer": {"type": "BertNormalizer"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kUnsupported, "BertNormalizer"},
      {R"({"decoder": {"type": "WordPiece"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kUnsupported, "WordPiece"},
      {R"({"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]},
          "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kCorruptFile, "'<s>'"},
      {R"({"post_processor": {"type": "TemplateProcessing", "single": "<s> $A", "special_tokens": {"<s>": {"ids": [5]}}},
          "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
       StatusCode::kCorruptFile, "id 5 is outside the vocabulary"},
  };
  for (const auto& c : cases) {
    const Status st = json_error(c.json);
    ASSERT_FALSE(st.ok()) << c.json;
    EXPECT_EQ(st.code(), c.code) << st.to_string();
    EXPECT_NE(st.message().find("bad/tokenizer.json"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(c.expect), std::string::npos)
        << c.expect << " not in: " << st.message();
  }
}

TEST(TokenizerJson, TruncatedRealFilesAreRejected) {
  auto full = read_file(kFixtures + "llama3_style/tokenizer.json");
  ASSERT_TRUE(full.ok());
  for (size_t cut : {size_t{0}, size_t{1}, full->size() / 3, full->size() / 2, full->size() - 2}) {
    const Status st = json_error(full->substr(0, cut));
    ASSERT_FALSE(st.ok()) << cut;
    EXPECT_NE(st.message().find("bad/tokenizer.json"), std::string::npos);
  }
  auto missing = Tokenizer::from_tokenizer_json("/nonexistent/tokenizer.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/tokenizer.json"), std::string::npos);
}

TEST(TokenizerDecode, OutOfRangeIds) {
  auto t = from_json(kSpmStyleJson);
  ASSERT_TRUE(t);
  const std::vector<int32_t> ids = {12, 99, -1};
  EXPECT_EQ(t->decode(ids), "hi\xEF\xBF\xBD\xEF\xBF\xBD");
  auto r = t->decode_checked(ids);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(r.status().message().find("test.json"), std::string::npos);
  EXPECT_NE(r.status().message().find("99"), std::string::npos);
  EXPECT_EQ(*t->decode_checked(std::vector<int32_t>{12}), "hi");
  EXPECT_EQ(t->token_text(99), "");
  EXPECT_EQ(t->token_type(-5), TokenType::kUndefined);
}

TEST(TokenizerEncode, InvalidUtf8RoundTripsThroughByteLevel) {
  auto t = Tokenizer::from_tokenizer_json(kFixtures + "llama3_style/tokenizer.json");
  ASSERT_TRUE(t.ok());
  for (std::string s : {std::string("\xff\xfe abc \xc3"), std::string("ok \xe2\x82 cut"),
                        std::string("\xed\xa0\x80 surrogate"), std::string("nul \0 byte", 10)}) {
    const auto ids = (*t)->encode(s, false);
    EXPECT_EQ((*t)->decode(ids), s);
  }
}

TEST(StreamDecoder, ChunksAreCompleteUtf8AndConcatenateToDecode) {
  auto t = Tokenizer::from_tokenizer_json(kFixtures + "llama3_style/tokenizer.json");
  ASSERT_TRUE(t.ok());
  const std::string text =
      "Emoji 🙂😀 👨‍👩‍👧‍👦 日本語 e\u0301 <|eot_id|> done";
  const auto ids = (*t)->encode(text, true);
  StreamDecoder sd(**t, /*skip_special=*/false);
  std::string all;
  int held = 0;
  for (int32_t id : ids) {
    const std::string chunk = sd.feed(id);
    EXPECT_TRUE(tok::is_valid_utf8(chunk)) << "chunk is not complete UTF-8";
    held += chunk.empty();
    all += chunk;
  }
  all += sd.flush();
  EXPECT_EQ(all, (*t)->decode(ids));
  EXPECT_GT(held, 0);  // the small vocabulary splits emoji bytes across tokens
  // skip_special drops control tokens; reset starts over.
  StreamDecoder sd2(**t);
  std::string all2;
  for (int32_t id : ids) all2 += sd2.feed(id);
  all2 += sd2.flush();
  EXPECT_EQ(all2, (*t)->decode(ids, /*skip_special=*/true));
  EXPECT_EQ(all2.find("<|"), std::string::npos);
}

TEST(StreamDecoder, InvalidBytesAreNotHeldForever) {
  auto t = Tokenizer::from_tokenizer_json(kFixtures + "qwen2_style/tokenizer.json");
  ASSERT_TRUE(t.ok());
  const auto ids = (*t)->encode("a\xe2\x82 b\xff c", false);
  StreamDecoder sd(**t);
  std::string all;
  for (int32_t id : ids) all += sd.feed(id);
  EXPECT_EQ(all + sd.flush(), "a\xe2\x82 b\xff c");
  EXPECT_EQ(all, "a\xe2\x82 b\xff c");
}

TEST(SentencePieceModel, BadFilesAreRejected) {
  const std::string d = scratch_dir("spm");
  const std::string p = d + "/tokenizer.model";
  for (std::string bytes : {std::string(""), std::string("\x0a\xff\xff\xff\x7f", 5),
                            std::string("garbage that is not protobuf"),
                            // found by fuzz_sentencepiece: an empty piece made libsentencepiece throw
                            std::string("\x0a\x0e\x0a\x05\x3c\x75\x6e\x6b\x34\x15\x00\x00\x00\x00\x18\x02\x0a\x0c\x0a\x03\x00\x73\x3a\x5d\x00\x00\x00\x00\x12\x00", 30)}) {
    std::ofstream(p, std::ios::binary) << bytes;
    auto r = Tokenizer::from_sentencepiece_model(p);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
  }
}

// A minimal GGUF "gpt2" tokenizer built by hand.
Metadata gguf_bpe_meta() {
  Metadata m;
  auto strs = [](std::vector<std::string> v) {
    std::vector<MetaValue> items;
    for (auto& s : v) items.push_back(MetaValue::str(s));
    return MetaValue::array(MetaType::string, std::move(items));
  };
  m.set("tokenizer.ggml.model", MetaValue::str("gpt2"));
  m.set("tokenizer.ggml.pre", MetaValue::str("gpt-2"));
  m.set("tokenizer.ggml.tokens", strs({"a", "b", "ab", "Ġ", "Ġab", "<|end|>"}));
  m.set("tokenizer.ggml.merges", strs({"a b", "Ġ ab"}));
  m.set("tokenizer.ggml.token_type",
        MetaValue::array(MetaType::i32, {MetaValue::i32(1), MetaValue::i32(1), MetaValue::i32(1),
                                         MetaValue::i32(1), MetaValue::i32(1), MetaValue::i32(3)}));
  m.set("tokenizer.ggml.eos_token_id", MetaValue::u32(5));
  return m;
}

TEST(GgufTokenizer, HandBuiltBpe) {
  auto t = Tokenizer::from_gguf_metadata(gguf_bpe_meta(), "m.gguf");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ((*t)->encode("ab ab<|end|>", true), (std::vector<int32_t>{2, 4, 5}));
  EXPECT_FALSE((*t)->adds_bos());
  EXPECT_TRUE((*t)->is_eog(5));
  EXPECT_EQ((*t)->decode(std::vector<int32_t>{2, 4}), "ab ab");
}

TEST(GgufTokenizer, BadMetadataGivesErrorsNamingTheFile) {
  struct Case {
    std::function<void(Metadata&)> edit;
    const char* expect;
  } cases[] = {
      {[](Metadata& m) { m.erase("tokenizer.ggml.model"); }, "tokenizer.ggml.model"},
      {[](Metadata& m) { m.set("tokenizer.ggml.model", MetaValue::str("bert")); }, "'bert'"},
      {[](Metadata& m) { m.erase("tokenizer.ggml.tokens"); }, "tokenizer.ggml.tokens"},
      {[](Metadata& m) { m.set("tokenizer.ggml.tokens", MetaValue::u32(3)); },
       "tokenizer.ggml.tokens"},
      {[](Metadata& m) { m.erase("tokenizer.ggml.merges"); }, "tokenizer.ggml.merges"},
      {[](Metadata& m) {
         m.set("tokenizer.ggml.merges",
               MetaValue::array(MetaType::string, {MetaValue::str("a zz")}));
       },
       "'zz'"},
      {[](Metadata& m) {
         m.set("tokenizer.ggml.merges", MetaValue::array(MetaType::string, {MetaValue::str("ab")}));
       },
       "no space"},
      {[](Metadata& m) {
         m.set("tokenizer.ggml.token_type", MetaValue::array(MetaType::i32, {MetaValue::i32(1)}));
       },
       "1 entries for 6 tokens"},
      {[](Metadata& m) { m.set("tokenizer.ggml.eos_token_id", MetaValue::u32(77)); },
       "tokenizer.ggml.eos_token_id = 77 is outside the vocabulary of 6 tokens"},
      // Issue 12: 0xFFFFFFFF (and −1) used to read as "no EOS": generation never stopped at one.
      {[](Metadata& m) { m.set("tokenizer.ggml.eos_token_id", MetaValue::u32(0xFFFFFFFFu)); },
       "tokenizer.ggml.eos_token_id = 4294967295 is outside the vocabulary"},
      {[](Metadata& m) { m.set("tokenizer.ggml.bos_token_id", MetaValue::i32(-1)); },
       "tokenizer.ggml.bos_token_id = -1 is outside the vocabulary"},
      {[](Metadata& m) { m.set("tokenizer.ggml.padding_token_id", MetaValue::u32(6)); },
       "tokenizer.ggml.padding_token_id = 6"},
      {[](Metadata& m) { m.set("tokenizer.ggml.unknown_token_id", MetaValue::u64(1ull << 40)); },
       "tokenizer.ggml.unknown_token_id = 1099511627776"},
      {[](Metadata& m) { m.set("tokenizer.ggml.eot_token_id", MetaValue::u32(6)); },
       "eot_token_id"},
      {[](Metadata& m) { m.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::string, {})); },
       "for 0 tokens"},
  };
  for (const auto& c : cases) {
    Metadata m = gguf_bpe_meta();
    c.edit(m);
    auto t = Tokenizer::from_gguf_metadata(m, "dir/model.gguf");
    ASSERT_FALSE(t.ok()) << c.expect;
    EXPECT_NE(t.status().message().find("dir/model.gguf"), std::string::npos)
        << t.status().message();
    EXPECT_NE(t.status().message().find(c.expect), std::string::npos)
        << c.expect << " not in " << t.status().message();
  }
}

TEST(TokenizerText, ByteLevelAlphabet) {
  EXPECT_EQ(tok::byte_to_unicode(' '), "Ġ");
  EXPECT_EQ(tok::byte_to_unicode('\n'), "Ċ");
  EXPECT_EQ(tok::byte_to_unicode('A'), "A");
  for (int b = 0; b < 256; ++b) {
    std::string back;
    ASSERT_TRUE(tok::byte_level_to_bytes(tok::byte_to_unicode(static_cast<uint8_t>(b)), &back));
    EXPECT_EQ(back, std::string(1, static_cast<char>(b)));
  }
  std::string out;
  EXPECT_FALSE(tok::byte_level_to_bytes(" ", &out));  // a raw space is not in the alphabet
}

}  // namespace
}  // namespace tq
