// Key/value metadata in the GGUF value model. Both loaders produce it: GGUF files directly, and
// Hugging Face folders by translating config.json into the same llama.cpp keys
// ("general.architecture", "llama.embedding_length", ...), so the model layer reads hyper-parameters
// one way only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tq/status.h"

namespace tq {

// GGUF value types (gguf spec numbering).
enum class MetaType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12
};
const char* meta_type_name(MetaType t);

struct MetaArray;

// A scalar, a string, or an array (arrays hold one element type; nested arrays allowed by GGUF).
struct MetaValue {
  MetaType type = MetaType::u32;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<MetaArray>> v;

  static MetaValue u8(uint8_t x) { return {MetaType::u8, uint64_t{x}}; }
  static MetaValue i8(int8_t x) { return {MetaType::i8, int64_t{x}}; }
  static MetaValue u16(uint16_t x) { return {MetaType::u16, uint64_t{x}}; }
  static MetaValue i16(int16_t x) { return {MetaType::i16, int64_t{x}}; }
  static MetaValue u32(uint32_t x) { return {MetaType::u32, uint64_t{x}}; }
  static MetaValue i32(int32_t x) { return {MetaType::i32, int64_t{x}}; }
  static MetaValue u64(uint64_t x) { return {MetaType::u64, x}; }
  static MetaValue i64(int64_t x) { return {MetaType::i64, x}; }
  static MetaValue f32(float x) { return {MetaType::f32, double{x}}; }
  static MetaValue f64(double x) { return {MetaType::f64, x}; }
  static MetaValue boolean(bool x) { return {MetaType::boolean, x}; }
  static MetaValue str(std::string x) { return {MetaType::string, std::move(x)}; }
  static MetaValue array(MetaType elem_type, std::vector<MetaValue> items);

  bool is_integer() const;
  bool is_float() const { return type == MetaType::f32 || type == MetaType::f64; }
  // Conversions return false when the value is not of a compatible kind.
  bool get_int(int64_t* out) const;
  bool get_float(double* out) const;  // accepts integers too
  const std::string* get_string() const;
  const MetaArray* get_array() const;
  std::string to_string(size_t max_array_items = 8) const;  // for `tq inspect`
};

struct MetaArray {
  MetaType elem_type = MetaType::u8;
  std::vector<MetaValue> items;
};

// Ordered map (GGUF writers keep insertion order; we keep key order sorted for determinism,
// except that writers emit "general.*" first).
class Metadata {
 public:
  void set(const std::string& key, MetaValue v) { kv_[key] = std::move(v); }
  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  const MetaValue* find(const std::string& key) const;
  void erase(const std::string& key) { kv_.erase(key); }

  // Typed getters; errors say which key is missing or of the wrong type.
  Result<int64_t> get_int(const std::string& key) const;
  Result<double> get_float(const std::string& key) const;
  Result<std::string> get_string(const std::string& key) const;
  Result<std::vector<std::string>> get_string_array(const std::string& key) const;
  Result<std::vector<int64_t>> get_int_array(const std::string& key) const;
  Result<std::vector<double>> get_float_array(const std::string& key) const;
  int64_t get_int_or(const std::string& key, int64_t dflt) const;
  double get_float_or(const std::string& key, double dflt) const;
  std::string get_string_or(const std::string& key, const std::string& dflt) const;
  bool get_bool_or(const std::string& key, bool dflt) const;

  const std::map<std::string, MetaValue>& items() const { return kv_; }

 private:
  std::map<std::string, MetaValue> kv_;
};

}  // namespace tq
