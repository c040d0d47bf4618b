#include "io/gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <numeric>
#include <set>

#include "core/checked.h"
#include "formats/format.h"

namespace tq {
namespace {

// Nested arrays deeper than this are rejected (GGUF writers never nest more than one level).
constexpr int kMaxArrayDepth = 8;
// More elements than this in one metadata array is rejected as implausible (largest real
// vocabularies have ~256 k tokens, merges ~500 k); it bounds memory on hostile files.
constexpr uint64_t kMaxArrayElems = uint64_t{1} << 24;
// Longest tensor name accepted on read (the writer keeps llama.cpp's 63-byte limit).
constexpr uint64_t kMaxTensorNameBytes = 4096;

// Bounds-checked little-endian reader over the file bytes. Every read names what it was reading,
// so truncation errors say where the file ends.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  Status read(T* out, const std::string& what) {
    if (remaining() < sizeof(T))
      return corrupt_file("{}: file ends at byte {} while reading {} (truncated?)", path_, size_,
                          what);
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return ok_status();
  }

  Status read_string(std::string* out, const std::string& what, uint64_t max_bytes = UINT64_MAX) {
    uint64_t len = 0;
    TQ_RETURN_IF_ERROR(read(&len, what + " length"));
    if (len > remaining())
      return corrupt_file(
          "{}: {} has length {} but only {} bytes remain in the file (truncated or corrupt)", path_,
          what, len, remaining());
    if (len > max_bytes)
      return corrupt_file("{}: {} is {} bytes long (limit {})", path_, what, len, max_bytes);
    out->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return ok_status();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

bool valid_meta_type(uint32_t t) {
  return t <= static_cast<uint32_t>(MetaType::f64);
}

// Smallest number of bytes one value of type t occupies in a file (bounds array counts).
uint64_t min_value_bytes(MetaType t) {
  switch (t) {
    case MetaType::u8:
    case MetaType::i8:
    case MetaType::boolean:
      return 1;
    case MetaType::u16:
    case MetaType::i16:
      return 2;
    case MetaType::u32:
    case MetaType::i32:
    case MetaType::f32:
      return 4;
    case MetaType::u64:
    case MetaType::i64:
    case MetaType::f64:
      return 8;
    case MetaType::string:
      return 8;
    case MetaType::array:
      return 12;
  }
  return 1;
}

class Parser {
 public:
  Parser(const uint8_t* data, size_t size, const std::string& path)
      : cur_(data, size, path), path_(path) {}

  Status read_value(MetaType type, const std::string& key, int depth, MetaValue* out) {
    out->type = type;
    switch (type) {
      case MetaType::u8:
        return read_uint<uint8_t>(key, out);
      case MetaType::u16:
        return read_uint<uint16_t>(key, out);
      case MetaType::u32:
        return read_uint<uint32_t>(key, out);
      case MetaType::u64:
        return read_uint<uint64_t>(key, out);
      case MetaType::i8:
        return read_int<int8_t>(key, out);
      case MetaType::i16:
        return read_int<int16_t>(key, out);
      case MetaType::i32:
        return read_int<int32_t>(key, out);
      case MetaType::i64:
        return read_int<int64_t>(key, out);
      case MetaType::f32: {
        float f = 0;
        TQ_RETURN_IF_ERROR(cur_.read(&f, "metadata value of '" + key + "'"));
        out->v = static_cast<double>(f);
        return ok_status();
      }
      case MetaType::f64: {
        double f = 0;
        TQ_RETURN_IF_ERROR(cur_.read(&f, "metadata value of '" + key + "'"));
        out->v = f;
        return ok_status();
      }
      case MetaType::boolean: {
        uint8_t b = 0;
        TQ_RETURN_IF_ERROR(cur_.read(&b, "metadata value of '" + key + "'"));
        if (b > 1)
          return corrupt_file("{}: metadata key '{}': bool value {} is neither 0 nor 1", path_, key,
                              b);
        out->v = b != 0;
        return ok_status();
      }
      case MetaType::string: {
        std::string s;
        TQ_RETURN_IF_ERROR(cur_.read_string(&s, "string value of metadata key '" + key + "'"));
        out->v = std::move(s);
        return ok_status();
      }
      case MetaType::array:
        return read_array(key, depth, out);
    }
    return corrupt_file("{}: metadata key '{}' has unknown value type {}", path_, key,
                        static_cast<uint32_t>(type));
  }

  Status read_array(const std::string& key, int depth, MetaValue* out) {
    if (depth >= kMaxArrayDepth)
      return corrupt_file("{}: metadata key '{}': arrays nested deeper than {}", path_, key,
                          kMaxArrayDepth);
    uint32_t elem_type = 0;
    uint64_t count = 0;
    TQ_RETURN_IF_ERROR(cur_.read(&elem_type, "array element type of '" + key + "'"));
    if (!valid_meta_type(elem_type))
      return corrupt_file("{}: metadata key '{}': unknown array element type {}", path_, key,
                          elem_type);
    TQ_RETURN_IF_ERROR(cur_.read(&count, "array length of '" + key + "'"));
    const MetaType et = static_cast<MetaType>(elem_type);
    if (count > cur_.remaining() / min_value_bytes(et))
      return corrupt_file(
          "{}: metadata key '{}': array of {} {} values cannot fit in the {} bytes left (corrupt "
          "count)",
          path_, key, count, meta_type_name(et), cur_.remaining());
    if (count > kMaxArrayElems)
      return unsupported("{}: metadata key '{}': array of {} elements exceeds the limit of {}",
                         path_, key, count, kMaxArrayElems);
    auto arr = std::make_shared<MetaArray>();
    arr->elem_type = et;
    arr->items.resize(count);
    for (uint64_t i = 0; i < count; ++i)
      TQ_RETURN_IF_ERROR(read_value(et, key, depth + 1, &arr->items[i]));
    out->v = std::move(arr);
    return ok_status();
  }

  Result<GgufFile> parse() {
    GgufFile g;
    g.path = path_;
    char magic[4] = {};
    TQ_RETURN_IF_ERROR(cur_.read(&magic, "the magic"));
    if (std::memcmp(magic, kGgufMagic, 4) != 0)
      return corrupt_file(
          "{}: not a GGUF file (magic bytes {:02x} {:02x} {:02x} {:02x}, expected 'GGUF')", path_,
          static_cast<uint8_t>(magic[0]), static_cast<uint8_t>(magic[1]),
          static_cast<uint8_t>(magic[2]), static_cast<uint8_t>(magic[3]));
    TQ_RETURN_IF_ERROR(cur_.read(&g.version, "the version"));
    if (g.version == 1)
      return unsupported("{}: GGUF version 1 is obsolete and not supported (need 2 or 3)", path_);
    if (g.version != 2 && g.version != 3) {
      if (__builtin_bswap32(g.version) >= 1 && __builtin_bswap32(g.version) <= 3)
        return unsupported("{}: big-endian GGUF files are not supported", path_);
      return unsupported("{}: GGUF version {} is not supported (need 2 or 3)", path_, g.version);
    }
    uint64_t n_tensors = 0, n_kv = 0;
    TQ_RETURN_IF_ERROR(cur_.read(&n_tensors, "the tensor count"));
    TQ_RETURN_IF_ERROR(cur_.read(&n_kv, "the metadata count"));
    // Each key/value takes >= 13 bytes (8 length + 1 key byte... + 4 type), each tensor info >= 32.
    if (n_kv > cur_.remaining() / 13)
      return corrupt_file(
          "{}: header claims {} metadata entries, more than {} bytes of file can hold", path_, n_kv,
          cur_.remaining());
    if (n_tensors > cur_.remaining() / 32)
      return corrupt_file("{}: header claims {} tensors, more than {} bytes of file can hold",
                          path_, n_tensors, cur_.remaining());

    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key;
      TQ_RETURN_IF_ERROR(cur_.read_string(&key, fmt::format("metadata key #{}", i)));
      if (key.empty()) return corrupt_file("{}: metadata key #{} is empty", path_, i);
      uint32_t type = 0;
      TQ_RETURN_IF_ERROR(cur_.read(&type, "value type of '" + key + "'"));
      if (!valid_meta_type(type))
        return corrupt_file("{}: metadata key '{}' has unknown value type {}", path_, key, type);
      MetaValue v;
      TQ_RETURN_IF_ERROR(read_value(static_cast<MetaType>(type), key, 0, &v));
      if (g.meta.has(key)) return corrupt_file("{}: metadata key '{}' appears twice", path_, key);
      g.meta.set(key, std::move(v));
    }

    if (const MetaValue* a = g.meta.find("general.alignment")) {
      int64_t al;
      if (!a->is_integer() || !a->get_int(&al))
        return corrupt_file("{}: general.alignment is {}, expected an integer", path_,
                            meta_type_name(a->type));
      if (al <= 0 || al > (int64_t{1} << 30) || (al & (al - 1)) != 0)
        return corrupt_file("{}: general.alignment = {} is not a power of two in [1, 2^30]", path_,
                            al);
      g.alignment = static_cast<uint32_t>(al);
    }

    std::vector<uint64_t> ggml_dims;
    std::set<std::string> names;
    g.tensors.reserve(n_tensors);
    g.tensor_offsets.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      TensorInfo t;
      t.file = path_;
      TQ_RETURN_IF_ERROR(
          cur_.read_string(&t.name, fmt::format("name of tensor #{}", i), kMaxTensorNameBytes));
      if (t.name.empty()) return corrupt_file("{}: tensor #{} has an empty name", path_, i);
      if (!names.insert(t.name).second)
        return corrupt_file("{}: tensor '{}' appears twice", path_, t.name);
      const std::string what = "tensor '" + t.name + "'";
      uint32_t n_dims = 0;
      TQ_RETURN_IF_ERROR(cur_.read(&n_dims, "dimension count of " + what));
      if (n_dims < 1 || n_dims > kGgufMaxDims)
        return corrupt_file("{}: {} has {} dimensions (must be 1..{})", path_, what, n_dims,
                            kGgufMaxDims);
      ggml_dims.assign(n_dims, 0);
      for (uint32_t d = 0; d < n_dims; ++d)
        TQ_RETURN_IF_ERROR(cur_.read(&ggml_dims[d], "shape of " + what));
      uint32_t type_id = 0;
      TQ_RETURN_IF_ERROR(cur_.read(&type_id, "type of " + what));
      uint64_t offset = 0;
      TQ_RETURN_IF_ERROR(cur_.read(&offset, "data offset of " + what));

      // Shape: positive dims, element count below 2^62, byte size within 64 bits.
      for (uint32_t d = 0; d < n_dims; ++d)
        if (ggml_dims[d] == 0 || ggml_dims[d] > (uint64_t{1} << 62))
          return corrupt_file("{}: {} has dimension ne[{}] = {} (must be in [1, 2^62])", path_,
                              what, d, ggml_dims[d]);
      t.shape.assign(ggml_dims.rbegin(), ggml_dims.rend());  // outermost first
      if (!checked_elements(t.shape, int64_t{1} << 62))
        return corrupt_file("{}: {} has too many elements (shape {} overflows the limit of 2^62)", path_, what,
                            t.shape_string());

      const FormatTraits* f = find_format(static_cast<TypeId>(type_id));
      if (!f)
        return unsupported("{}: {} has unknown tensor type id {} (not in the format table)", path_,
                           what, type_id);
      t.type = f->id;
      if (ggml_dims[0] % static_cast<uint64_t>(f->block_elems) != 0)
        return corrupt_file("{}: {} rows of {} elements are not a multiple of the {} block size {}",
                            path_, what, ggml_dims[0], f->name, f->block_elems);
      auto n_bytes = tensor_bytes(f->id, t.shape);
      if (!n_bytes.ok())
        return corrupt_file("{}: {} ({} {}): {}", path_, what, f->name, t.shape_string(),
                            n_bytes.status().message());
      if (offset % g.alignment != 0)
        return corrupt_file("{}: {} data offset {} is not a multiple of the alignment {}", path_,
                            what, offset, g.alignment);
      t.n_bytes = *n_bytes;
      g.tensors.push_back(std::move(t));
      g.tensor_offsets.push_back(offset);
    }

    // Data section: starts at the next multiple of the alignment after the tensor infos.
    const uint64_t size = cur_.pos() + cur_.remaining();
    const uint64_t data_offset = (cur_.pos() + g.alignment - 1) / g.alignment * g.alignment;
    g.data_offset = data_offset;
    if (n_tensors == 0) return g;
    if (data_offset > size)
      return corrupt_file(
          "{}: data section would start at byte {} but the file has {} bytes (truncated?)", path_,
          data_offset, size);
    const uint64_t data_size = size - data_offset;
    for (size_t i = 0; i < g.tensors.size(); ++i) {
      const uint64_t off = g.tensor_offsets[i], nb = g.tensors[i].n_bytes;
      if (off > data_size || nb > data_size - off)
        return corrupt_file(
            "{}: tensor '{}' data [{}, {}) lies outside the data section of {} bytes (truncated?)",
            path_, g.tensors[i].name, off, off + nb, data_size);
      g.tensors[i].data = base_ + data_offset + off;
    }
    // No two tensors may share bytes.
    std::vector<size_t> order(g.tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return g.tensor_offsets[a] < g.tensor_offsets[b]; });
    for (size_t k = 1; k < order.size(); ++k) {
      const size_t a = order[k - 1], b = order[k];
      if (g.tensor_offsets[a] + g.tensors[a].n_bytes > g.tensor_offsets[b])
        return corrupt_file("{}: tensors '{}' and '{}' overlap in the data section", path_,
                            g.tensors[a].name, g.tensors[b].name);
    }
    return g;
  }

  void set_base(const uint8_t* base) { base_ = base; }

 private:
  template <typename T>
  Status read_uint(const std::string& key, MetaValue* out) {
    T x{};
    TQ_RETURN_IF_ERROR(cur_.read(&x, "metadata value of '" + key + "'"));
    out->v = static_cast<uint64_t>(x);
    return ok_status();
  }
  template <typename T>
  Status read_int(const std::string& key, MetaValue* out) {
    T x{};
    TQ_RETURN_IF_ERROR(cur_.read(&x, "metadata value of '" + key + "'"));
    out->v = static_cast<int64_t>(x);
    return ok_status();
  }

  Cursor cur_;
  const std::string& path_;
  const uint8_t* base_ = nullptr;
};

}  // namespace

Result<GgufFile> parse_gguf(const uint8_t* data, size_t size, const std::string& path) {
  if (size > 0 && data == nullptr) return invalid_argument("{}: null data", path);
  Parser p(data, size, path);
  p.set_base(data);
  return p.parse();
}

Result<GgufFile> read_gguf(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  TQ_ASSIGN_OR_RETURN(GgufFile g, parse_gguf(map->data(), map->size(), path));
  g.map = std::move(map);
  return g;
}

Result<ModelFile> open_gguf(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(GgufFile g, read_gguf(path));
  ModelFile mf;
  mf.kind = SourceKind::kGguf;
  mf.path = path;
  mf.meta = std::move(g.meta);
  mf.tensors = std::move(g.tensors);
  mf.maps.push_back(std::move(g.map));
  return mf;
}

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, 4)) return false;
  return std::memcmp(magic, kGgufMagic, 4) == 0;
}

}  // namespace tq
