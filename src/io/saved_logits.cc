#include "io/saved_logits.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/checked.h"

namespace tq {
namespace {

constexpr char kMagic[8] = {'T', 'Q', 'L', 'O', 'G', 'I', 'T', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 8 + 6 * 4 + 8;
constexpr size_t kRecordHeaderBytes = 16;

size_t record_bytes(int64_t n_vocab) {
  return kRecordHeaderBytes + 2 * static_cast<size_t>(n_vocab + (n_vocab & 1));
}

template <class T>
void put(uint8_t* out, size_t at, T v) {
  std::memcpy(out + at, &v, sizeof(T));
}

template <class T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

Result<std::unique_ptr<SavedLogitsWriter>> SavedLogitsWriter::create(
    const std::string& path, const SavedLogitsHeader& h, std::span<const int32_t> tokens) {
  if (h.n_vocab <= 0 || h.n_ctx <= 0 || h.n_chunks <= 0 ||
      static_cast<int64_t>(tokens.size()) != h.n_chunks * h.n_ctx)
    return invalid_argument("{}: bad saved-logits header (vocab {}, ctx {}, chunks {}, {} tokens)",
                            path, h.n_vocab, h.n_ctx, h.n_chunks, tokens.size());
  auto w = std::unique_ptr<SavedLogitsWriter>(new SavedLogitsWriter());
  w->h_ = h;
  TQ_ASSIGN_OR_RETURN(w->file_, AtomicFile::create(path));
  uint8_t hdr[kHeaderBytes];
  std::memcpy(hdr, kMagic, 8);
  put<uint32_t>(hdr, 8, kVersion);
  put<uint32_t>(hdr, 12, static_cast<uint32_t>(h.n_vocab));
  put<uint32_t>(hdr, 16, static_cast<uint32_t>(h.n_ctx));
  put<uint32_t>(hdr, 20, static_cast<uint32_t>(h.n_chunks));
  put<uint32_t>(hdr, 24, static_cast<uint32_t>(h.first_scored));
  put<uint32_t>(hdr, 28, h.llamacpp ? 1u : 0u);
  put<uint64_t>(hdr, 32, static_cast<uint64_t>(h.n_records));
  TQ_RETURN_IF_ERROR(w->file_->write(hdr, kHeaderBytes));
  TQ_RETURN_IF_ERROR(w->file_->write(tokens.data(), tokens.size_bytes()));
  w->record_.resize(record_bytes(h.n_vocab));
  return w;
}

Status SavedLogitsWriter::add(const float* logits, int32_t target) {
  if (n_added_ >= h_.n_records)
    return invalid_argument("{}: more than the {} records announced", file_->path(), h_.n_records);
  const int64_t V = h_.n_vocab;
  int32_t top1 = 0;
  for (int64_t i = 1; i < V; ++i)
    if (logits[i] > logits[top1]) top1 = static_cast<int32_t>(i);
  const double mx = logits[top1];
  double sum = 0.0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const float nll = static_cast<float>(mx + std::log(sum) - logits[target]);
  const float lo = static_cast<float>(mx - kSavedLogitRange);
  const float scale = static_cast<float>(kSavedLogitRange / 65535.0);
  uint8_t* r = record_.data();
  std::memcpy(r, &lo, 4);
  std::memcpy(r + 4, &scale, 4);
  std::memcpy(r + 8, &top1, 4);
  std::memcpy(r + 12, &nll, 4);
  uint16_t* codes = reinterpret_cast<uint16_t*>(r + kRecordHeaderBytes);
  for (int64_t i = 0; i < V; ++i) {
    const double c = std::round(
        (std::max(static_cast<double>(logits[i]), static_cast<double>(lo)) - lo) / scale);
    codes[i] = static_cast<uint16_t>(std::clamp(c, 0.0, 65535.0));
  }
  if (V & 1) codes[V] = 0;
  ++n_added_;
  return file_->write(record_.data(), record_.size());
}

Status SavedLogitsWriter::finish() {
  if (n_added_ != h_.n_records)
    return invalid_argument("{}: {} of {} records written", file_->path(), n_added_, h_.n_records);
  return file_->commit();
}

Result<std::unique_ptr<SavedLogitsReader>> SavedLogitsReader::open(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  TQ_ASSIGN_OR_RETURN(auto r, parse(map->data(), map->size(), path));
  r->map_ = std::move(map);
  return r;
}

Result<std::unique_ptr<SavedLogitsReader>> SavedLogitsReader::parse(const uint8_t* p, size_t size,
                                                                    const std::string& path) {
  if (size < kHeaderBytes || std::memcmp(p, kMagic, 8) != 0)
    return corrupt_file("{}: not a saved-logits file (written by tq perplexity --save-logits)",
                        path);
  if (get<uint32_t>(p + 8) != kVersion)
    return unsupported("{}: saved-logits version {} (this build reads {})", path,
                       get<uint32_t>(p + 8), kVersion);
  auto r = std::unique_ptr<SavedLogitsReader>(new SavedLogitsReader());
  r->path_ = path;
  SavedLogitsHeader& h = r->h_;
  h.n_vocab = get<uint32_t>(p + 12);
  h.n_ctx = get<uint32_t>(p + 16);
  h.n_chunks = get<uint32_t>(p + 20);
  h.first_scored = get<uint32_t>(p + 24);
  h.llamacpp = get<uint32_t>(p + 28) & 1u;
  const uint64_t n_records = get<uint64_t>(p + 32);
  if (h.n_vocab <= 0 || h.n_ctx <= 1 || h.n_chunks <= 0 || h.first_scored >= h.n_ctx - 1 ||
      n_records != static_cast<uint64_t>(h.n_chunks) * static_cast<uint64_t>(h.n_ctx - 1 - h.first_scored))
    return corrupt_file("{}: inconsistent header (vocab {}, ctx {}, chunks {}, first {}, records {})",
                        path, h.n_vocab, h.n_ctx, h.n_chunks, h.first_scored, n_records);
  h.n_records = static_cast<int64_t>(n_records);
  // Sizes from the header's counts, overflow-checked (4 × chunks × ctx alone can pass 2^64), then
  // bounded by the file size.
  const auto n_tokens = checked_mul<uint64_t>(h.n_chunks, h.n_ctx);
  const auto tok_bytes = n_tokens ? checked_mul<uint64_t>(*n_tokens, 4) : n_tokens;
  r->record_bytes_ = record_bytes(h.n_vocab);
  const auto rec_bytes = checked_mul<uint64_t>(r->record_bytes_, n_records);
  const auto head = tok_bytes ? checked_add<uint64_t>(kHeaderBytes, *tok_bytes) : tok_bytes;
  const auto want = head && rec_bytes ? checked_add<uint64_t>(*head, *rec_bytes) : std::nullopt;
  if (!want || *want != size)
    return corrupt_file("{}: {} bytes, but its header describes {} (truncated?)", path, size,
                        want ? fmt::format("{}", *want) : std::string("more than 2^64"));
  r->tokens_ = {reinterpret_cast<const int32_t*>(p + kHeaderBytes),
                static_cast<size_t>(h.n_chunks * h.n_ctx)};
  r->records_ = p + *head;
  return r;
}

SavedLogitsReader::Record SavedLogitsReader::record(int64_t i) const {
  const uint8_t* p = records_ + static_cast<size_t>(i) * record_bytes_;
  return {get<float>(p), get<float>(p + 4), get<int32_t>(p + 8), get<float>(p + 12),
          reinterpret_cast<const uint16_t*>(p + kRecordHeaderBytes)};
}

TokenKld compare_to_saved(const SavedLogitsReader::Record& base, const float* logits, int64_t V) {
  // log q = z - lse(z) for the run; log p = b - lse(b) for the decoded base logits b.
  int32_t top1 = 0;
  for (int64_t i = 1; i < V; ++i)
    if (logits[i] > logits[top1]) top1 = static_cast<int32_t>(i);
  const double zmax = logits[top1];
  double zsum = 0.0, bsum = 0.0, pdiff = 0.0;
  uint16_t cmax = 0;
  for (int64_t i = 0; i < V; ++i) cmax = std::max(cmax, base.codes[i]);
  const double bmax = base.lo + static_cast<double>(cmax) * base.scale;
  for (int64_t i = 0; i < V; ++i) {
    const double z = static_cast<double>(logits[i]) - zmax;
    const double b = base.lo + static_cast<double>(base.codes[i]) * base.scale - bmax;
    zsum += std::exp(z);
    const double eb = std::exp(b);
    bsum += eb;
    pdiff += eb * (b - z);  // unnormalized p * (b - z)
  }
  // KL = sum p (log p - log q) = sum p (b - z) - log bsum + log zsum, with p = e^b / bsum.
  const double kld = pdiff / bsum - std::log(bsum) + std::log(zsum);
  return {std::max(0.0, kld), top1 == base.top1};
}

}  // namespace tq
