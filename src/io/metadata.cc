#include "io/metadata.h"

#include <fmt/format.h>

namespace tq {

const char* meta_type_name(MetaType t) {
  switch (t) {
    case MetaType::u8: return "u8";
    case MetaType::i8: return "i8";
    case MetaType::u16: return "u16";
    case MetaType::i16: return "i16";
    case MetaType::u32: return "u32";
    case MetaType::i32: return "i32";
    case MetaType::f32: return "f32";
    case MetaType::boolean: return "bool";
    case MetaType::string: return "string";
    case MetaType::array: return "array";
    case MetaType::u64: return "u64";
    case MetaType::i64: return "i64";
    case MetaType::f64: return "f64";
  }
  return "?";
}

MetaValue MetaValue::array(MetaType elem_type, std::vector<MetaValue> items) {
  auto a = std::make_shared<MetaArray>();
  a->elem_type = elem_type;
  a->items = std::move(items);
  return {MetaType::array, std::move(a)};
}

bool MetaValue::is_integer() const {
  switch (type) {
    case MetaType::u8: case MetaType::i8: case MetaType::u16: case MetaType::i16:
    case MetaType::u32: case MetaType::i32: case MetaType::u64: case MetaType::i64:
      return true;
    default:
      return false;
  }
}

bool MetaValue::get_int(int64_t* out) const {
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    *out = static_cast<int64_t>(*u);
    return true;
  }
  if (const auto* i = std::get_if<int64_t>(&v)) {
    *out = *i;
    return true;
  }
  if (const auto* b = std::get_if<bool>(&v)) {
    *out = *b;
    return true;
  }
  return false;
}

bool MetaValue::get_float(double* out) const {
  if (const auto* d = std::get_if<double>(&v)) {
    *out = *d;
    return true;
  }
  int64_t i;
  if (get_int(&i)) {
    *out = static_cast<double>(i);
    return true;
  }
  return false;
}

const std::string* MetaValue::get_string() const { return std::get_if<std::string>(&v); }

const MetaArray* MetaValue::get_array() const {
  const auto* p = std::get_if<std::shared_ptr<MetaArray>>(&v);
  return p ? p->get() : nullptr;
}

namespace {
// Quoted, with control characters, quotes and backslashes escaped; cut after ~80 bytes at a UTF-8
// character boundary.
std::string quote(const std::string& s) {
  std::string r = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (r.size() >= 78 && (c & 0xC0) != 0x80) {
      r += "...";
      break;
    }
    if (c == '"' || c == '\\') r += {'\\', static_cast<char>(c)};
    else if (c == '\n') r += "\\n";
    else if (c == '\t') r += "\\t";
    else if (c < 0x20 || c == 0x7f) r += fmt::format("\\x{:02x}", c);
    else r += static_cast<char>(c);
  }
  return r + "\"";
}
}  // namespace

std::string MetaValue::to_string(size_t max_array_items) const {
  if (const auto* s = get_string()) return quote(*s);
  if (const auto* a = get_array()) {
    std::string r = fmt::format("[{} x {}]", a->items.size(), meta_type_name(a->elem_type));
    if (max_array_items) {
      r += " {";
      for (size_t i = 0; i < a->items.size() && i < max_array_items; ++i)
        r += (i ? ", " : "") + a->items[i].to_string(0);
      if (a->items.size() > max_array_items) r += ", ...";
      r += "}";
    }
    return r;
  }
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* d = std::get_if<double>(&v))
    return type == MetaType::f32 ? fmt::format("{}", static_cast<float>(*d)) : fmt::format("{}", *d);
  int64_t i = 0;
  get_int(&i);
  if (type == MetaType::u64) return fmt::format("{}", static_cast<uint64_t>(i));
  return fmt::format("{}", i);
}

const MetaValue* Metadata::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

Result<int64_t> Metadata::get_int(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) return not_found("metadata key '{}' is missing", key);
  int64_t x;
  if (!v->get_int(&x)) return invalid_argument("metadata key '{}' is {}, expected an integer", key, meta_type_name(v->type));
  return x;
}

Result<double> Metadata::get_float(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) return not_found("metadata key '{}' is missing", key);
  double x;
  if (!v->get_float(&x)) return invalid_argument("metadata key '{}' is {}, expected a number", key, meta_type_name(v->type));
  return x;
}

Result<std::string> Metadata::get_string(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) return not_found("metadata key '{}' is missing", key);
  const std::string* s = v->get_string();
  if (!s) return invalid_argument("metadata key '{}' is {}, expected a string", key, meta_type_name(v->type));
  return *s;
}

namespace {
Result<const MetaArray*> get_array(const Metadata& m, const std::string& key) {
  const MetaValue* v = m.find(key);
  if (!v) return not_found("metadata key '{}' is missing", key);
  const MetaArray* a = v->get_array();
  if (!a) return invalid_argument("metadata key '{}' is {}, expected an array", key, meta_type_name(v->type));
  return a;
}
}  // namespace

Result<std::vector<std::string>> Metadata::get_string_array(const std::string& key) const {
  TQ_ASSIGN_OR_RETURN(const MetaArray* a, get_array(*this, key));
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const auto& it : a->items) {
    const std::string* s = it.get_string();
    if (!s) return invalid_argument("metadata key '{}': array element is not a string", key);
    out.push_back(*s);
  }
  return out;
}

Result<std::vector<int64_t>> Metadata::get_int_array(const std::string& key) const {
  TQ_ASSIGN_OR_RETURN(const MetaArray* a, get_array(*this, key));
  std::vector<int64_t> out;
  out.reserve(a->items.size());
  for (const auto& it : a->items) {
    int64_t x;
    if (!it.get_int(&x)) return invalid_argument("metadata key '{}': array element is not an integer", key);
    out.push_back(x);
  }
  return out;
}

Result<std::vector<double>> Metadata::get_float_array(const std::string& key) const {
  TQ_ASSIGN_OR_RETURN(const MetaArray* a, get_array(*this, key));
  std::vector<double> out;
  out.reserve(a->items.size());
  for (const auto& it : a->items) {
    double x;
    if (!it.get_float(&x)) return invalid_argument("metadata key '{}': array element is not a number", key);
    out.push_back(x);
  }
  return out;
}

int64_t Metadata::get_int_or(const std::string& key, int64_t dflt) const {
  auto r = get_int(key);
  return r.ok() ? *r : dflt;
}
double Metadata::get_float_or(const std::string& key, double dflt) const {
  auto r = get_float(key);
  return r.ok() ? *r : dflt;
}
std::string Metadata::get_string_or(const std::string& key, const std::string& dflt) const {
  auto r = get_string(key);
  return r.ok() ? *r : dflt;
}
bool Metadata::get_bool_or(const std::string& key, bool dflt) const {
  const MetaValue* v = find(key);
  if (!v) return dflt;
  if (const auto* b = std::get_if<bool>(&v->v)) return *b;
  int64_t i;
  return v->get_int(&i) ? i != 0 : dflt;
}

}  // namespace tq
