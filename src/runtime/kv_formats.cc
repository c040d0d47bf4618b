#include <string_view>
#include <vector>

#include "core/check.h"
#include "runtime/kv_format_families.h"

namespace tq {
namespace {

std::vector<KvFormat> build_table() {
  std::vector<KvFormat> t;
  for (auto family : {float_kv_formats(), code_kv_formats(), q4_kv_formats()}) t.insert(t.end(), family.begin(), family.end());
  for (size_t i = 0; i < t.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      TQ_CHECK(std::string_view(t[i].name) != t[j].name, "KV format '{}' registered twice",
               t[i].name);
  return t;
}

const std::vector<KvFormat>& table() {
  static const std::vector<KvFormat> t = build_table();
  return t;
}

}  // namespace

std::span<const KvFormat> kv_formats() {
  return table();
}

const KvFormat* find_kv_format(std::string_view name) {
  for (const auto& f : table())
    if (name == f.name) return &f;
  return nullptr;
}

}  // namespace tq
