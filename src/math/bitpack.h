// Bit packing of 1..8-bit codes at any length.
//
// Layout (the on-disk/in-memory contract): an LSB-first bit stream. Code i occupies stream bits
// [i·bits, (i+1)·bits), least significant bit first; stream bit k is bit (k mod 8) of byte k/8.
// n codes take packed_bytes(n, bits) = ceil(n·bits / 8) bytes; unused high bits of the last byte
// are written as zero. For bits = 8 this is the identity; for bits = 4, code 2j is the low nibble
// of byte j; for bits = 1, code i is bit i%8 of byte i/8 (what hwy::StoreMaskBits writes).
//
// Speed: groups of 8 codes (= `bits` bytes) move with one BMI2 pext/pdep when the CPU has BMI2
// (checked once at run time), else with shifts; bits = 8 is a copy.
#pragma once

#include <cstdint>
#include <span>

#include "tq/status.h"

namespace tq {

// Bytes holding n codes of `bits` bits each: ceil(n·bits / 8). n >= 0, bits in [1, 8].
constexpr int64_t packed_bytes(int64_t n, int bits) { return (n * bits + 7) / 8; }

// Packs codes[0..n) (each < 2^bits; higher bits are ignored) into out[0..packed_bytes(n, bits)).
// Every output byte is written. codes and out must not overlap. bits in [1, 8] (TQ_CHECK).
void pack_bits(const uint8_t* codes, int64_t n, int bits, uint8_t* out);
// Inverse of pack_bits: codes[0..n) from packed[0..packed_bytes(n, bits)). Reads no further.
void unpack_bits(const uint8_t* packed, int64_t n, int bits, uint8_t* codes);

// Checked versions for user-facing callers: bits in [1, 8], codes < 2^bits,
// packed.size() == packed_bytes(codes.size(), bits).
Status pack_bits_checked(std::span<const uint8_t> codes, int bits, std::span<uint8_t> packed);
Status unpack_bits_checked(std::span<const uint8_t> packed, int bits, std::span<uint8_t> codes);

namespace ref {  // scalar bit-by-bit oracles
void pack_bits(const uint8_t* codes, int64_t n, int bits, uint8_t* out);
void unpack_bits(const uint8_t* packed, int64_t n, int bits, uint8_t* codes);
}  // namespace ref

// Which fast path pack_bits/unpack_bits use on this CPU: "bmi2" or "shift".
const char* bitpack_path();

}  // namespace tq
