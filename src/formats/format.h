// THE format table (STYLE.md §1): one entry per tensor/KV type. Everything that needs to know what
// a type id means (loaders, writers, kernels, `tq inspect`) asks here. Adding a format = one entry
// in a family file + its kernels; nothing else to edit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tq/status.h"
#include "tq/types.h"

namespace tq {

// Reference conversions work on whole rows: n (elements) must be a multiple of block_elems. A row
// is row_header_bytes (per-row data such as one scale per output channel; 0 for most formats)
// followed by n / block_elems blocks.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// Conversions of formats with per-tensor side data (aux: format-defined, e.g. a TqGroupMap).
using ToFloatAuxFn = void (*)(const void* src, float* dst, int64_t n, const void* aux);
using FromFloatAuxFn = void (*)(const float* src, void* dst, int64_t n, const void* aux);
// Checks the scales/offsets of one row of n elements: true when all are finite; else false with
// *bad_block = the first bad block (−1: the row header).
using ValidateRowFn = bool (*)(const void* row, int64_t n, int64_t* bad_block);

struct FormatTraits {
  TypeId id;
  const char* name;        // canonical lower-case name, e.g. "bf16", "q4_K", "tq4g128"
  int64_t block_elems;     // elements per block along a row (1 for plain floats)
  int64_t block_bytes;     // bytes per block
  bool is_quantized;       // false for f32/f16/bf16/ints
  ToFloatFn to_float;      // scalar reference dequantization; never null
  FromFloatFn from_float;  // scalar reference quantization (data-free); null if not provided
  const char* description;
  int64_t row_header_bytes = 0;  // bytes before the first block of every row (e.g. q8's f32 scale)
  ValidateRowFn validate_row = nullptr;  // set by formats whose scales are checked at load
  // Formats with per-tensor side data (fractional tq: the group map) convert rows with it; their
  // plain to_float / from_float then describe the tensor whose side data is the default (see
  // the family file).
  ToFloatAuxFn to_float_aux = nullptr;
  FromFloatAuxFn from_float_aux = nullptr;
};

// Dequantizes one row with the tensor's side data when the format has any (aux may be null only
// for formats without side data or to get their default reading).
inline void row_to_float(const FormatTraits& f, const void* src, float* dst, int64_t n,
                         const void* aux) {
  if (f.to_float_aux && aux) {
    f.to_float_aux(src, dst, n, aux);
  } else {
    f.to_float(src, dst, n);
  }
}

// All registered formats, in table order.
std::span<const FormatTraits> all_formats();
// nullptr when unknown.
const FormatTraits* find_format(TypeId id);
const FormatTraits* find_format(std::string_view name);

// Bytes of a row of n elements (row header + blocks); error if n is not a multiple of the block
// size, the type is unknown or the size does not fit 64 bits (core/checked.h).
Result<size_t> row_bytes(TypeId id, int64_t n);
// Bytes of a whole tensor of `shape` (outermost first, every dimension >= 1; the last one is the
// row): rows times row_bytes, overflow-checked. The one place that turns an untrusted shape and
// type into a byte count (file readers, writers, the model binder).
Result<size_t> tensor_bytes(TypeId id, std::span<const int64_t> shape);
// Bits per element including every scale/offset stored in the blocks (not the row header).
double bits_per_element(TypeId id);
// Bits per element of a row of n_cols elements, row header included.
double bits_per_element(TypeId id, int64_t n_cols);
const char* type_name(TypeId id);  // "type#<id>" for unknown ids (static storage per thread)
// True for ids in the TurboQuant range (our own formats; llama.cpp cannot read them).
inline bool is_turboquant_type(TypeId id) { return static_cast<uint32_t>(id) >= kTurboQuantTypeBase; }

}  // namespace tq
