#include "math/bitpack.h"

#include <cstring>

#include "core/check.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TQ_BITPACK_X86 1
#endif

namespace tq {
namespace {

// Mask with the low `bits` bits set in every byte of a uint64.
constexpr uint64_t lane_mask(int bits) { return 0x0101010101010101ull * ((1u << bits) - 1u); }

uint64_t load_le(const uint8_t* p, int n_bytes) {
  uint64_t v = 0;
  std::memcpy(&v, p, static_cast<size_t>(n_bytes));  // little-endian host (x86-64, arm64)
  return v;
}

// ---- portable group kernels: 8 codes <-> `bits` bytes -------------------------------------------

uint64_t pack8_shift(uint64_t codes8, int bits) {
  uint64_t v = 0;
  const uint64_t m = (1u << bits) - 1u;
  for (int j = 0; j < 8; ++j) v |= ((codes8 >> (8 * j)) & m) << (j * bits);
  return v;
}

uint64_t unpack8_shift(uint64_t v, int bits) {
  uint64_t out = 0;
  const uint64_t m = (1u << bits) - 1u;
  for (int j = 0; j < 8; ++j) out |= ((v >> (j * bits)) & m) << (8 * j);
  return out;
}

#ifdef TQ_BITPACK_X86
__attribute__((target("bmi2"))) void pack_groups_bmi2(const uint8_t* codes, int64_t n_groups, int bits,
                                                      uint8_t* out) {
  const uint64_t mask = lane_mask(bits);
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint64_t v = _pext_u64(load_le(codes + 8 * g, 8), mask);
    std::memcpy(out + g * bits, &v, static_cast<size_t>(bits));
  }
}

__attribute__((target("bmi2"))) void unpack_groups_bmi2(const uint8_t* packed, int64_t n_groups, int bits,
                                                        uint8_t* codes) {
  const uint64_t mask = lane_mask(bits);
  int64_t g = 0;
  // Full 8-byte loads while they stay inside the packed buffer (n_groups·bits bytes).
  for (; (g + 1) * bits + (8 - bits) <= n_groups * bits && g < n_groups; ++g) {
    uint64_t v;
    std::memcpy(&v, packed + g * bits, 8);
    const uint64_t c = _pdep_u64(v, mask);
    std::memcpy(codes + 8 * g, &c, 8);
  }
  for (; g < n_groups; ++g) {
    const uint64_t c = _pdep_u64(load_le(packed + g * bits, bits), mask);
    std::memcpy(codes + 8 * g, &c, 8);
  }
}

bool has_bmi2() {
  static const bool ok = __builtin_cpu_supports("bmi2");
  return ok;
}
#else
bool has_bmi2() { return false; }
#endif

void pack_groups_shift(const uint8_t* codes, int64_t n_groups, int bits, uint8_t* out) {
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint64_t v = pack8_shift(load_le(codes + 8 * g, 8), bits);
    std::memcpy(out + g * bits, &v, static_cast<size_t>(bits));
  }
}

void unpack_groups_shift(const uint8_t* packed, int64_t n_groups, int bits, uint8_t* codes) {
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint64_t c = unpack8_shift(load_le(packed + g * bits, bits), bits);
    std::memcpy(codes + 8 * g, &c, 8);
  }
}

}  // namespace

const char* bitpack_path() { return has_bmi2() ? "bmi2" : "shift"; }

void pack_bits(const uint8_t* codes, int64_t n, int bits, uint8_t* out) {
  TQ_CHECK(bits >= 1 && bits <= 8, "pack_bits: bits {} outside [1, 8]", bits);
  if (bits == 8) {
    if (n > 0) std::memcpy(out, codes, static_cast<size_t>(n));
    return;
  }
  const int64_t n_groups = n / 8;
#ifdef TQ_BITPACK_X86
  if (has_bmi2()) pack_groups_bmi2(codes, n_groups, bits, out);
  else
#endif
    pack_groups_shift(codes, n_groups, bits, out);
  // Tail: fewer than 8 codes, into the remaining ceil(rest·bits/8) bytes.
  const int64_t rest = n - 8 * n_groups;
  if (rest > 0) {
    uint8_t tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tmp, codes + 8 * n_groups, static_cast<size_t>(rest));
    const uint64_t v = pack8_shift(load_le(tmp, 8), bits);
    std::memcpy(out + n_groups * bits, &v, static_cast<size_t>(packed_bytes(rest, bits)));
  }
}

void unpack_bits(const uint8_t* packed, int64_t n, int bits, uint8_t* codes) {
  TQ_CHECK(bits >= 1 && bits <= 8, "unpack_bits: bits {} outside [1, 8]", bits);
  if (bits == 8) {
    if (n > 0) std::memcpy(codes, packed, static_cast<size_t>(n));
    return;
  }
  const int64_t n_groups = n / 8;
#ifdef TQ_BITPACK_X86
  if (has_bmi2()) unpack_groups_bmi2(packed, n_groups, bits, codes);
  else
#endif
    unpack_groups_shift(packed, n_groups, bits, codes);
  const int64_t rest = n - 8 * n_groups;
  if (rest > 0) {
    const uint64_t c = unpack8_shift(load_le(packed + n_groups * bits, static_cast<int>(packed_bytes(rest, bits))), bits);
    std::memcpy(codes + 8 * n_groups, &c, static_cast<size_t>(rest));
  }
}

Status pack_bits_checked(std::span<const uint8_t> codes, int bits, std::span<uint8_t> packed) {
  if (bits < 1 || bits > 8) return invalid_argument("bit width must be in [1, 8], got {}", bits);
  const int64_t n = static_cast<int64_t>(codes.size());
  if (static_cast<int64_t>(packed.size()) != packed_bytes(n, bits))
    return invalid_argument("packed buffer has {} bytes; {} codes of {} bits need {}", packed.size(), n, bits,
                            packed_bytes(n, bits));
  for (int64_t i = 0; i < n; ++i)
    if (codes[i] >> bits) return invalid_argument("code[{}] = {} does not fit in {} bits", i, codes[i], bits);
  pack_bits(codes.data(), n, bits, packed.data());
  return ok_status();
}

Status unpack_bits_checked(std::span<const uint8_t> packed, int bits, std::span<uint8_t> codes) {
  if (bits < 1 || bits > 8) return invalid_argument("bit width must be in [1, 8], got {}", bits);
  const int64_t n = static_cast<int64_t>(codes.size());
  if (static_cast<int64_t>(packed.size()) != packed_bytes(n, bits))
    return invalid_argument("packed buffer has {} bytes; {} codes of {} bits need {}", packed.size(), n, bits,
                            packed_bytes(n, bits));
  unpack_bits(packed.data(), n, bits, codes.data());
  return ok_status();
}

namespace ref {

void pack_bits(const uint8_t* codes, int64_t n, int bits, uint8_t* out) {
  const int64_t n_bytes = packed_bytes(n, bits);
  for (int64_t i = 0; i < n_bytes; ++i) out[i] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < bits; ++k) {
      const int64_t bit = i * bits + k;
      if ((codes[i] >> k) & 1) out[bit / 8] = static_cast<uint8_t>(out[bit / 8] | (1u << (bit % 8)));
    }
}

void unpack_bits(const uint8_t* packed, int64_t n, int bits, uint8_t* codes) {
  for (int64_t i = 0; i < n; ++i) {
    unsigned v = 0;
    for (int k = 0; k < bits; ++k) {
      const int64_t bit = i * bits + k;
      v |= ((packed[bit / 8] >> (bit % 8)) & 1u) << k;
    }
    codes[i] = static_cast<uint8_t>(v);
  }
}

}  // namespace ref
}  // namespace tq
