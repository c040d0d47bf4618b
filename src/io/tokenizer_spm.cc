// SentencePiece tokenizer.model: encoding through libsentencepiece; the vocabulary (pieces,
// scores, types) and the normalizer/trainer options we need are read from the model's protobuf
// with a small reader of our own, so they can also be written as GGUF metadata.
#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "io/tokenizer_impl.h"

namespace tq {
namespace {

// The parts of sentencepiece's ModelProto we use.
struct SpModelInfo {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<TokenType> types;
  int model_type = 1;            // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;    // TrainerSpec.byte_fallback
  bool add_dummy_prefix = true;  // NormalizerSpec.add_dummy_prefix
  std::string normalizer_name;
};

// Minimal protobuf wire-format reader over a byte range; every read is bounds-checked.
class ProtoReader {
 public:
  ProtoReader(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  bool done() const { return p_ >= end_; }
  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      const uint8_t b = *p_++;
      *v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Reads a field header and, for length-delimited fields, the payload range.
  bool field(uint32_t* number, uint32_t* wire, const uint8_t** data, size_t* len,
             uint64_t* scalar) {
    uint64_t key;
    if (!varint(&key)) return false;
    *number = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    switch (*wire) {
      case 0:
        return varint(scalar);
      case 1:
        if (end_ - p_ < 8) return false;
        std::memcpy(scalar, p_, 8);
        p_ += 8;
        return true;
      case 2: {
        uint64_t n;
        if (!varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
        *data = p_;
        *len = static_cast<size_t>(n);
        p_ += n;
        return true;
      }
      case 5: {
        if (end_ - p_ < 4) return false;
        uint32_t v;
        std::memcpy(&v, p_, 4);
        *scalar = v;
        p_ += 4;
        return true;
      }
      default:
        return false;
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

Status parse_sp_model(const std::string& bytes, const std::string& path, SpModelInfo* info) {
  auto bad = [&](const char* what) {
    return corrupt_file("{}: not a SentencePiece model ({})", path, what);
  };
  ProtoReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  while (!r.done()) {
    uint32_t num, wire;
    const uint8_t* data = nullptr;
    size_t len = 0;
    uint64_t scalar = 0;
    if (!r.field(&num, &wire, &data, &len, &scalar)) return bad("truncated or malformed protobuf");
    if (wire != 2) continue;
    ProtoReader sub(data, len);
    if (num == 1) {  // SentencePiece {1: piece, 2: score, 3: type}
      std::string piece;
      float score = 0;
      uint64_t type = 1;
      while (!sub.done()) {
        uint32_t n2, w2;
        const uint8_t* d2 = nullptr;
        size_t l2 = 0;
        uint64_t s2 = 0;
        if (!sub.field(&n2, &w2, &d2, &l2, &s2)) return bad("malformed piece");
        if (n2 == 1 && w2 == 2)
          piece.assign(reinterpret_cast<const char*>(d2), l2);
        else if (n2 == 2 && w2 == 5) {
          const uint32_t u = static_cast<uint32_t>(s2);
          std::memcpy(&score, &u, 4);
        } else if (n2 == 3 && w2 == 0)
          type = s2;
      }
      if (type < 1 || type > 6) return bad("piece type out of range");
      // libsentencepiece's trie throws (an uncatchable abort for a C API user) on empty pieces.
      if (piece.empty()) return bad("an empty piece");
      info->pieces.push_back(std::move(piece));
      info->scores.push_back(score);
      info->types.push_back(static_cast<TokenType>(type));
    } else if (num == 2 || num == 3) {  // TrainerSpec / NormalizerSpec
      while (!sub.done()) {
        uint32_t n2, w2;
        const uint8_t* d2 = nullptr;
        size_t l2 = 0;
        uint64_t s2 = 0;
        if (!sub.field(&n2, &w2, &d2, &l2, &s2)) return bad("malformed spec");
        if (num == 2 && n2 == 3 && w2 == 0) info->model_type = static_cast<int>(s2);
        if (num == 2 && n2 == 35 && w2 == 0) info->byte_fallback = s2 != 0;
        if (num == 3 && n2 == 1 && w2 == 2)
          info->normalizer_name.assign(reinterpret_cast<const char*>(d2), l2);
        if (num == 3 && n2 == 3 && w2 == 0) info->add_dummy_prefix = s2 != 0;
      }
    }
  }
  if (info->pieces.empty()) return bad("no pieces");
  return ok_status();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_sentencepiece_model(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  SpModelInfo info;
  TQ_RETURN_IF_ERROR(parse_sp_model(bytes, path, &info));
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  try {  // the library reports most problems as a status, some (its trie builder) by throwing
    const auto st = sp->LoadFromSerializedProto(absl::string_view(bytes.data(), bytes.size()));
    if (!st.ok()) return corrupt_file("{}: libsentencepiece cannot load it: {}", path, st.ToString());
  } catch (const std::exception& e) {
    return corrupt_file("{}: libsentencepiece cannot load it: {}", path, e.what());
  }
  if (sp->GetPieceSize() != static_cast<int>(info.pieces.size()))
    return corrupt_file("{}: {} pieces read, libsentencepiece reports {}", path, info.pieces.size(),
                        sp->GetPieceSize());

  auto m = std::make_unique<Impl>();
  m->kind = Kind::kSentencePieceLib;
  m->source = path;
  m->sp = std::move(sp);
  m->tokens = std::move(info.pieces);
  m->scores = std::move(info.scores);
  m->types = std::move(info.types);
  m->spm.add_space_prefix = info.add_dummy_prefix;
  m->spm.byte_fallback = info.byte_fallback;
  m->bos = m->sp->bos_id();
  m->eos = m->sp->eos_id();
  m->unk = m->sp->unk_id();
  m->pad = m->sp->pad_id();
  m->dec_replace.emplace_back("\xE2\x96\x81", " ");
  m->dec_byte_fallback = true;
  m->dec_control_empty = true;
  m->dec_unknown_text = " \xE2\x81\x87 ";  // sentencepiece's rendering of <unk>
  m->strip_leading_spaces = info.add_dummy_prefix ? 1 : 0;
  if (info.model_type == 2)
    m->gguf_pre = "default";  // only BPE models map onto llama.cpp's "llama"

  // Llama convention: BOS is added; tokenizer_config.json beside the model may say otherwise.
  bool add_bos = m->bos >= 0, add_eos = false;
  const std::string cfg_path =
      (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  if (file_exists(cfg_path)) {
    auto text = read_file(cfg_path);
    if (text.ok()) {
      const auto cfg = nlohmann::json::parse(*text, nullptr, false);
      if (cfg.is_object()) {
        if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean())
          add_bos = cfg["add_bos_token"].get<bool>();
        if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean())
          add_eos = cfg["add_eos_token"].get<bool>();
      }
    }
  }
  if (add_bos && m->bos >= 0) m->prefix_ids = {m->bos};
  if (add_eos && m->eos >= 0) m->suffix_ids = {m->eos};
  TQ_RETURN_IF_ERROR(m->finalize());
  return std::make_unique<Tokenizer>(std::move(m));
}

}  // namespace tq
