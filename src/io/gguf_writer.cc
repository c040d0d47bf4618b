#include "io/gguf_writer.h"

#include <cstring>
#include <limits>
#include <set>

#include "core/checked.h"
#include "formats/format.h"
#include "io/checksum.h"
#include "io/gguf_reader.h"

namespace tq {
namespace {

template <typename T>
void put(std::string* out, T x) {
  char b[sizeof(T)];
  std::memcpy(b, &x, sizeof(T));
  out->append(b, sizeof(T));
}

void put_string(std::string* out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out->append(s);
}

// Integer payload of v checked to fit [lo, hi]; unsigned payloads above INT64_MAX only for u64.
Status int_in_range(const MetaValue& v, const std::string& key, int64_t lo, uint64_t hi,
                    uint64_t* bits) {
  if (const auto* u = std::get_if<uint64_t>(&v.v)) {
    if (*u > hi)
      return invalid_argument("metadata key '{}': value {} does not fit {}", key, *u,
                              meta_type_name(v.type));
    *bits = *u;
    return ok_status();
  }
  if (const auto* i = std::get_if<int64_t>(&v.v)) {
    if (*i < lo || (*i > 0 && static_cast<uint64_t>(*i) > hi))
      return invalid_argument("metadata key '{}': value {} does not fit {}", key, *i,
                              meta_type_name(v.type));
    *bits = static_cast<uint64_t>(*i);
    return ok_status();
  }
  return invalid_argument("metadata key '{}': {} value holds no integer", key,
                          meta_type_name(v.type));
}

Result<double> float_payload(const MetaValue& v, const std::string& key) {
  if (const auto* d = std::get_if<double>(&v.v)) return *d;
  return invalid_argument("metadata key '{}': {} value holds no number", key,
                          meta_type_name(v.type));
}

}  // namespace

Status append_gguf_value(const MetaValue& v, const std::string& key, std::string* out) {
  uint64_t bits = 0;
  switch (v.type) {
    case MetaType::u8:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, 0, UINT8_MAX, &bits));
      put<uint8_t>(out, static_cast<uint8_t>(bits));
      return ok_status();
    case MetaType::i8:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, INT8_MIN, INT8_MAX, &bits));
      put<int8_t>(out, static_cast<int8_t>(bits));
      return ok_status();
    case MetaType::u16:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, 0, UINT16_MAX, &bits));
      put<uint16_t>(out, static_cast<uint16_t>(bits));
      return ok_status();
    case MetaType::i16:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, INT16_MIN, INT16_MAX, &bits));
      put<int16_t>(out, static_cast<int16_t>(bits));
      return ok_status();
    case MetaType::u32:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, 0, UINT32_MAX, &bits));
      put<uint32_t>(out, static_cast<uint32_t>(bits));
      return ok_status();
    case MetaType::i32:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, INT32_MIN, INT32_MAX, &bits));
      put<int32_t>(out, static_cast<int32_t>(bits));
      return ok_status();
    case MetaType::u64:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, 0, UINT64_MAX, &bits));
      put<uint64_t>(out, bits);
      return ok_status();
    case MetaType::i64:
      TQ_RETURN_IF_ERROR(int_in_range(v, key, INT64_MIN, INT64_MAX, &bits));
      put<int64_t>(out, static_cast<int64_t>(bits));
      return ok_status();
    case MetaType::f32: {
      TQ_ASSIGN_OR_RETURN(double d, float_payload(v, key));
      put<float>(out, static_cast<float>(d));
      return ok_status();
    }
    case MetaType::f64: {
      TQ_ASSIGN_OR_RETURN(double d, float_payload(v, key));
      put<double>(out, d);
      return ok_status();
    }
    case MetaType::boolean: {
      const auto* b = std::get_if<bool>(&v.v);
      if (!b) return invalid_argument("metadata key '{}': bool value holds no bool", key);
      put<uint8_t>(out, *b ? 1 : 0);
      return ok_status();
    }
    case MetaType::string: {
      const std::string* s = v.get_string();
      if (!s) return invalid_argument("metadata key '{}': string value holds no string", key);
      put_string(out, *s);
      return ok_status();
    }
    case MetaType::array: {
      const MetaArray* a = v.get_array();
      if (!a) return invalid_argument("metadata key '{}': array value holds no array", key);
      put<uint32_t>(out, static_cast<uint32_t>(a->elem_type));
      put<uint64_t>(out, a->items.size());
      for (const MetaValue& item : a->items) {
        if (item.type != a->elem_type)
          return invalid_argument("metadata key '{}': array of {} holds a {} element", key,
                                  meta_type_name(a->elem_type), meta_type_name(item.type));
        TQ_RETURN_IF_ERROR(append_gguf_value(item, key, out));
      }
      return ok_status();
    }
  }
  return invalid_argument("metadata key '{}': unknown value type {}", key,
                          static_cast<uint32_t>(v.type));
}

Result<std::unique_ptr<GgufWriter>> GgufWriter::create(const std::string& path,
                                                       const Metadata& meta_in,
                                                       std::vector<GgufTensorDecl> tensors) {
  std::unique_ptr<GgufWriter> w(new GgufWriter());
  // The per-tensor checksums (io/checksum.h): placeholders now, filled in by finish().
  Metadata meta = meta_in;
  meta.set(kTensorChecksumsKey,
           MetaValue::array(MetaType::u64, std::vector<MetaValue>(tensors.size(), MetaValue::u64(0))));
  if (const MetaValue* a = meta.find("general.alignment")) {
    int64_t al;
    if (a->type != MetaType::u32 || !a->get_int(&al) || al <= 0 || (al & (al - 1)) != 0 ||
        al > (1 << 30))
      return invalid_argument("{}: general.alignment must be a u32 power of two", path);
    w->alignment_ = static_cast<uint32_t>(al);
  }
  const uint64_t align = w->alignment_;

  // Header and metadata.
  std::string head;
  head.append(kGgufMagic, 4);
  put<uint32_t>(&head, kGgufVersion);
  put<uint64_t>(&head, tensors.size());
  put<uint64_t>(&head, meta.items().size());
  std::vector<const std::pair<const std::string, MetaValue>*> order;
  if (auto it = meta.items().find("general.architecture"); it != meta.items().end())
    order.push_back(&*it);
  for (const auto& kv : meta.items())
    if (kv.first.starts_with("general.") && kv.first != "general.architecture")
      order.push_back(&kv);
  for (const auto& kv : meta.items())
    if (!kv.first.starts_with("general.")) order.push_back(&kv);
  for (const auto* kv : order) {
    if (kv->first.empty()) return invalid_argument("{}: empty metadata key", path);
    put_string(&head, kv->first);
    put<uint32_t>(&head, static_cast<uint32_t>(kv->second.type));
    if (kv->first == kTensorChecksumsKey)  // its items follow the element type and the count
      w->checksums_offset_ = head.size() + sizeof(uint32_t) + sizeof(uint64_t);
    TQ_RETURN_IF_ERROR(append_gguf_value(kv->second, kv->first, &head).with_context(path));
  }

  // Tensor infos: offsets packed in order, each aligned.
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name.size() > kGgufMaxNameBytes)
      return invalid_argument("{}: tensor name '{}' must be 1..{} bytes", path, t.name,
                              kGgufMaxNameBytes);
    if (!names.insert(t.name).second)
      return invalid_argument("{}: tensor '{}' declared twice", path, t.name);
    if (t.shape.empty() || t.shape.size() > kGgufMaxDims)
      return invalid_argument("{}: tensor '{}' has {} dimensions (must be 1..{})", path, t.name,
                              t.shape.size(), kGgufMaxDims);
    const FormatTraits* f = find_format(t.type);
    if (!f)
      return invalid_argument("{}: tensor '{}' has unknown type id {}", path, t.name,
                              static_cast<uint32_t>(t.type));
    for (const int64_t d : t.shape)
      if (d <= 0)
        return invalid_argument("{}: tensor '{}' has a non-positive dimension", path, t.name);
    auto nb = ::tq::tensor_bytes(t.type, t.shape);
    if (!nb.ok()) return nb.status().with_context(fmt::format("{}: tensor '{}'", path, t.name));
    const uint64_t n_bytes = *nb;
    put_string(&head, t.name);
    put<uint32_t>(&head, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it)
      put<uint64_t>(&head, static_cast<uint64_t>(*it));
    put<uint32_t>(&head, static_cast<uint32_t>(t.type));
    put<uint64_t>(&head, offset);
    w->sizes_.push_back(n_bytes);
    const auto padded = checked_align_up<uint64_t>(n_bytes, align);
    const auto next = padded ? checked_add<uint64_t>(offset, *padded) : padded;
    if (!next)
      return invalid_argument("{}: the tensors up to '{}' need more than 2^64 bytes", path, t.name);
    offset = *next;
  }
  const uint64_t data_start = (head.size() + align - 1) / align * align;
  w->total_bytes_ = data_start + offset;

  TQ_ASSIGN_OR_RETURN(w->file_, AtomicFile::create(path));
  TQ_RETURN_IF_ERROR(w->file_->write(head));
  TQ_RETURN_IF_ERROR(w->file_->pad_to(align));
  w->decls_ = std::move(tensors);
  return w;
}

Status GgufWriter::write(const void* data, size_t n_bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (current_ >= sizes_.size())
    return invalid_argument("{}: write of {} bytes after all {} tensors were written",
                            file_->path(), n_bytes, sizes_.size());
  if (n_bytes > sizes_[current_] - written_)
    return invalid_argument(
        "{}: tensor '{}' is {} bytes; write of {} bytes at byte {} runs past its end",
        file_->path(), decls_[current_].name, sizes_[current_], n_bytes, written_);
  TQ_RETURN_IF_ERROR(file_->write(p, n_bytes));
  if (written_ == 0) {
    const GgufTensorDecl& d = decls_[current_];
    hasher_ = std::make_unique<TensorHasher>(d.name, d.type, d.shape);
  }
  hasher_->update(p, n_bytes);
  written_ += n_bytes;
  if (written_ == sizes_[current_]) checksums_.push_back(hasher_->digest());
  // Zero-byte tensors cannot be declared, so a completed tensor always has written_ > 0.
  while (current_ < sizes_.size() && written_ == sizes_[current_]) {
    TQ_RETURN_IF_ERROR(file_->pad_to(alignment_));
    ++current_;
    written_ = 0;
  }
  return ok_status();
}

Status GgufWriter::finish() {
  if (current_ < sizes_.size())
    return invalid_argument("{}: tensor '{}' (#{} of {}) is missing {} of its {} bytes",
                            file_->path(), decls_[current_].name, current_, sizes_.size(),
                            sizes_[current_] - written_, sizes_[current_]);
  if (file_->offset() != total_bytes_ || checksums_.size() != sizes_.size())
    return Status(StatusCode::kInternal, fmt::format("{}: wrote {} bytes, layout says {}",
                                                     file_->path(), file_->offset(), total_bytes_));
  if (!checksums_.empty())
    TQ_RETURN_IF_ERROR(file_->write_at(checksums_offset_, checksums_.data(),
                                       checksums_.size() * sizeof(uint64_t)));
  return file_->commit();
}

Status write_gguf(const std::string& path, const Metadata& meta,
                  const std::vector<GgufTensorDecl>& tensors,
                  const std::vector<const void*>& data) {
  if (data.size() != tensors.size())
    return invalid_argument("{}: {} tensors declared but {} data pointers given", path,
                            tensors.size(), data.size());
  TQ_ASSIGN_OR_RETURN(auto w, GgufWriter::create(path, meta, tensors));
  for (size_t i = 0; i < data.size(); ++i)
    TQ_RETURN_IF_ERROR(w->write(data[i], w->tensor_bytes()[i]));
  return w->finish();
}

}  // namespace tq
