#include "io/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "formats/format.h"
#include "io/gguf_reader.h"

namespace tq {

struct TensorHasher::State {
  XXH3_state_t xxh;
};

TensorHasher::TensorHasher(std::string_view name, TypeId type, std::span<const int64_t> shape)
    : state_(std::make_unique<State>()) {
  XXH3_64bits_reset(&state_->xxh);
  const uint64_t name_len = name.size();
  XXH3_64bits_update(&state_->xxh, &name_len, 8);
  XXH3_64bits_update(&state_->xxh, name.data(), name.size());
  uint8_t desc[8 + 8 * kGgufMaxDims] = {};
  const uint32_t id = static_cast<uint32_t>(type), n_dims = static_cast<uint32_t>(shape.size());
  std::memcpy(desc, &id, 4);
  std::memcpy(desc + 4, &n_dims, 4);
  for (size_t d = 0; d < shape.size() && d < kGgufMaxDims; ++d) {
    const uint64_t ne = static_cast<uint64_t>(shape[shape.size() - 1 - d]);  // innermost first
    std::memcpy(desc + 8 + 8 * d, &ne, 8);
  }
  XXH3_64bits_update(&state_->xxh, desc, sizeof(desc));
}

TensorHasher::~TensorHasher() = default;

void TensorHasher::update(const void* data, size_t n_bytes) {
  if (n_bytes) XXH3_64bits_update(&state_->xxh, data, n_bytes);
}

uint64_t TensorHasher::digest() const { return XXH3_64bits_digest(&state_->xxh); }

uint64_t tensor_checksum(const TensorInfo& t) {
  TensorHasher h(t.name, t.type, t.shape);
  h.update(t.data, t.n_bytes);
  return h.digest();
}

Result<ChecksumReport> verify_tensor_checksums(const ModelFile& mf) {
  ChecksumReport r;
  const MetaValue* v = mf.meta.find(kTensorChecksumsKey);
  if (mf.kind != SourceKind::kGguf || !v) return r;
  r.present = true;
  const MetaArray* a = v->get_array();
  if (!a || a->elem_type != MetaType::u64 || a->items.size() != mf.tensors.size())
    return corrupt_file("{}: metadata key '{}' must be an array of {} u64 values (one per tensor), "
                        "not {}",
                        mf.path, kTensorChecksumsKey, mf.tensors.size(),
                        a ? fmt::format("{} {} values", a->items.size(), meta_type_name(a->elem_type))
                          : std::string(meta_type_name(v->type)));
  // Tensors hashed in parallel, each by one thread (the checksum streams through a tensor), taken
  // in turn so that one large embedding does not leave the other threads idle.
  const size_t n = mf.tensors.size();
  std::vector<uint64_t> sums(n);
  std::atomic<size_t> next{0};
  parallel_for(num_threads(), [&](int64_t, int64_t) {
    for (size_t i; (i = next.fetch_add(1)) < n;) sums[i] = tensor_checksum(mf.tensors[i]);
  });
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo& t = mf.tensors[i];
    const auto* want = std::get_if<uint64_t>(&a->items[i].v);
    const uint64_t got = sums[i];
    if (!want || *want != got)
      return corrupt_file("{}: tensor '{}' ({} {}) is damaged: its bytes hash to {:016x}, the file "
                          "records {:016x}",
                          mf.path, t.name, type_name(t.type), t.shape_string(), got,
                          want ? *want : 0);
    ++r.n_tensors;
    r.n_bytes += t.n_bytes;
  }
  return r;
}

Status verify_checksums_at_load(const ModelFile& mf) {
  if (mf.kind != SourceKind::kGguf || !mf.meta.has(kTensorChecksumsKey)) return ok_status();
  uint64_t bytes = 0;
  for (const TensorInfo& t : mf.tensors) bytes += t.n_bytes;
  if (bytes > kVerifyAtLoadMaxBytes) return ok_status();
  return verify_tensor_checksums(mf).status();
}

}  // namespace tq
