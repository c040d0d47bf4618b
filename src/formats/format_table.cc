#include <algorithm>
#include <string>
#include <vector>

#include "core/checked.h"
#include "formats/format.h"
#include "formats/format_families.h"

namespace tq {
namespace {

std::vector<FormatTraits> build_table() {
  std::vector<FormatTraits> t;
  for (auto family : {float_formats(), ggml_plain_formats(), ggml_legacy_formats(),
                      ggml_kquant_formats(), tq_weight_formats(), quant_baseline_formats()})
    t.insert(t.end(), family.begin(), family.end());
  return t;
}

const std::vector<FormatTraits>& table() {
  static const std::vector<FormatTraits> t = build_table();
  return t;
}

}  // namespace

std::span<const FormatTraits> all_formats() { return table(); }

const FormatTraits* find_format(TypeId id) {
  for (const auto& f : table())
    if (f.id == id) return &f;
  return nullptr;
}

const FormatTraits* find_format(std::string_view name) {
  for (const auto& f : table())
    if (name == f.name) return &f;
  return nullptr;
}

Result<size_t> row_bytes(TypeId id, int64_t n) {
  const FormatTraits* f = find_format(id);
  if (!f) return unsupported("unknown tensor type id {}", static_cast<uint32_t>(id));
  if (n < 0 || n % f->block_elems != 0)
    return invalid_argument("row of {} elements is not a multiple of the {} block size {}", n, f->name,
                            f->block_elems);
  const auto blocks = checked_mul<uint64_t>(static_cast<uint64_t>(n / f->block_elems),
                                           static_cast<uint64_t>(f->block_bytes));
  const auto total =
      blocks ? checked_add<uint64_t>(*blocks, static_cast<uint64_t>(f->row_header_bytes)) : blocks;
  if (!total)
    return out_of_range("a {} row of {} elements needs more than 2^64 bytes", f->name, n);
  return static_cast<size_t>(*total);
}

Result<size_t> tensor_bytes(TypeId id, std::span<const int64_t> shape) {
  if (shape.empty()) return invalid_argument("a tensor needs at least one dimension");
  for (const int64_t d : shape)
    if (d < 1) return invalid_argument("dimension {} is not positive", d);
  TQ_ASSIGN_OR_RETURN(const size_t row, row_bytes(id, shape.back()));
  const auto rows = checked_elements(shape.first(shape.size() - 1));
  const auto total = rows ? checked_mul<uint64_t>(row, static_cast<uint64_t>(*rows)) : std::nullopt;
  if (!total)
    return out_of_range("{} rows of {} bytes need more than 2^64 bytes",
                        rows ? fmt::format("{}", *rows) : std::string("more than 2^63"), row);
  return static_cast<size_t>(*total);
}

double bits_per_element(TypeId id) {
  const FormatTraits* f = find_format(id);
  return f ? 8.0 * static_cast<double>(f->block_bytes) / static_cast<double>(f->block_elems) : 0.0;
}

double bits_per_element(TypeId id, int64_t n_cols) {
  auto rb = row_bytes(id, n_cols);
  return rb.ok() && n_cols > 0 ? 8.0 * static_cast<double>(*rb) / static_cast<double>(n_cols) : 0.0;
}

const char* type_name(TypeId id) {
  if (const FormatTraits* f = find_format(id)) return f->name;
  thread_local std::string s;
  s = "type#" + std::to_string(static_cast<uint32_t>(id));
  return s.c_str();
}

}  // namespace tq
