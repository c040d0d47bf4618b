#include "formats/ggml_int.h"

#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "formats/ggml_blocks.h"

namespace tq {

using namespace ggml;

bool is_ggml_int_type(TypeId t) {
  switch (t) {
    case TypeId::q4_0: case TypeId::q4_1: case TypeId::q5_0: case TypeId::q5_1:
    case TypeId::q8_0: case TypeId::iq4_nl: case TypeId::q2_K: case TypeId::q3_K:
    case TypeId::q4_K: case TypeId::q5_K: case TypeId::q6_K: case TypeId::iq4_xs:
      return true;
    default:
      return false;
  }
}

bool is_ggml_kquant(TypeId t) {
  return t == TypeId::q2_K || t == TypeId::q3_K || t == TypeId::q4_K || t == TypeId::q5_K ||
         t == TypeId::q6_K || t == TypeId::iq4_xs;
}

int ggml_int_block_elems(TypeId t) { return is_ggml_kquant(t) ? kQK_K : 32; }

int ggml_int_offset(TypeId t) {
  switch (t) {
    case TypeId::q4_0: return 8;
    case TypeId::q5_0: return 16;
    case TypeId::q8_0: return 128;
    case TypeId::q3_K: return 4;
    case TypeId::q6_K: return 32;
    default: return 0;
  }
}

std::span<const int> ggml_f16_field_offsets(TypeId t) {
  static constexpr int kD[] = {0}, kDM[] = {0, 2}, kQ2K[] = {80, 82}, kQ3K[] = {108}, kQ6K[] = {208};
  switch (t) {
    case TypeId::q4_0: case TypeId::q5_0: case TypeId::q8_0: case TypeId::iq4_nl:
    case TypeId::iq4_xs:
      return kD;
    case TypeId::q4_1: case TypeId::q5_1: case TypeId::q4_K: case TypeId::q5_K:
      return kDM;
    case TypeId::q2_K: return kQ2K;
    case TypeId::q3_K: return kQ3K;
    case TypeId::q6_K: return kQ6K;
    default: return {};
  }
}

void ggml_unpack_k4_scales(const uint8_t* packed, uint8_t* sc, uint8_t* mn) {
  // Bytes 0..3: scales 0..3 (low 6 bits), their top 2 bits = bits 4..5 of scales 4..7;
  // bytes 4..7: mins 0..3 likewise for mins 4..7; bytes 8..11: low nibble = low 4 bits of scale
  // 4..7, high nibble = low 4 bits of min 4..7.
  for (int j = 0; j < 4; ++j) {
    sc[j] = packed[j] & 63;
    mn[j] = packed[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((packed[j + 8] & 0xF) | ((packed[j] >> 6) << 4));
    mn[j + 4] = static_cast<uint8_t>((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
  }
}

void ggml_unpack_q3k_scales(const uint8_t* packed, int8_t* sc) {
  // Scale j (0..15): low 4 bits from byte j % 8 (low nibble for j < 8, high nibble after),
  // high 2 bits from byte 8 + j % 4 at bit 2·(j / 4).
  for (int j = 0; j < 16; ++j) {
    const int lo = (packed[j % 8] >> (j < 8 ? 0 : 4)) & 0xF;
    const int hi = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    sc[j] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
}

void ggml_int_legacy_block(TypeId type, const uint8_t* block, int16_t* c, float* d, float* m) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  *d = f16_to_f32(h);
  *m = 0.0f;
  switch (type) {
    case TypeId::q4_0: {
      const uint8_t* qs = block + 2;
      for (int j = 0; j < 16; ++j) {
        c[j] = static_cast<int16_t>((qs[j] & 0xF) - 8);
        c[j + 16] = static_cast<int16_t>((qs[j] >> 4) - 8);
      }
      return;
    }
    case TypeId::q4_1: {
      std::memcpy(&h, block + 2, 2);
      *m = f16_to_f32(h);
      const uint8_t* qs = block + 4;
      for (int j = 0; j < 16; ++j) {
        c[j] = static_cast<int16_t>(qs[j] & 0xF);
        c[j + 16] = static_cast<int16_t>(qs[j] >> 4);
      }
      return;
    }
    case TypeId::q5_0:
    case TypeId::q5_1: {
      const bool has_min = type == TypeId::q5_1;
      if (has_min) {
        std::memcpy(&h, block + 2, 2);
        *m = f16_to_f32(h);
      }
      uint32_t qh;
      std::memcpy(&qh, block + (has_min ? 4 : 2), 4);
      const uint8_t* qs = block + (has_min ? 8 : 6);
      const int o = has_min ? 0 : 16;
      for (int j = 0; j < 16; ++j) {
        c[j] = static_cast<int16_t>(((qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - o);
        c[j + 16] = static_cast<int16_t>(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - o);
      }
      return;
    }
    case TypeId::q8_0: {
      for (int j = 0; j < 32; ++j) c[j] = static_cast<int8_t>(block[2 + j]);
      return;
    }
    case TypeId::iq4_nl: {
      const uint8_t* qs = block + 2;
      for (int j = 0; j < 16; ++j) {
        c[j] = kIq4nlValues[qs[j] & 0xF];
        c[j + 16] = kIq4nlValues[qs[j] >> 4];
      }
      return;
    }
    default:
      TQ_CHECK(false, "ggml_int_legacy_block: type {} is not a legacy ggml format",
               static_cast<uint32_t>(type));
  }
}

void ggml_int_kquant_block(TypeId type, const uint8_t* block, int16_t* c, int16_t* sc, int16_t* mn,
                           float* D, float* Dmin) {
  for (int j = 0; j < 16; ++j) mn[j] = 0;
  *Dmin = 0.0f;
  auto f16 = [](const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return f16_to_f32(h);
  };
  switch (type) {
    case TypeId::q2_K: {
      BlockQ2_K b;
      std::memcpy(&b, block, sizeof b);
      *D = f16(reinterpret_cast<const uint8_t*>(&b.d));
      *Dmin = f16(reinterpret_cast<const uint8_t*>(&b.dmin));
      for (int j = 0; j < 16; ++j) {
        sc[j] = b.scales[j] & 0xF;
        mn[j] = b.scales[j] >> 4;
      }
      // Group k = 4n + s (32 elements): bits 2s..2s+1 of qs[32n .. 32n + 32).
      for (int k = 0; k < 8; ++k)
        for (int l = 0; l < 32; ++l)
          c[32 * k + l] = static_cast<int16_t>((b.qs[32 * (k / 4) + l] >> (2 * (k % 4))) & 3);
      return;
    }
    case TypeId::q3_K: {
      BlockQ3_K b;
      std::memcpy(&b, block, sizeof b);
      *D = f16(reinterpret_cast<const uint8_t*>(&b.d));
      int8_t s[16];
      ggml_unpack_q3k_scales(b.scales, s);
      for (int j = 0; j < 16; ++j) sc[j] = s[j];
      // Group k = 4n + s: low bits as q2_K, high bit = bit k of hmask[l]; code − 4 when it is 0.
      for (int k = 0; k < 8; ++k)
        for (int l = 0; l < 32; ++l) {
          const int u = ((b.qs[32 * (k / 4) + l] >> (2 * (k % 4))) & 3) | (((b.hmask[l] >> k) & 1) << 2);
          c[32 * k + l] = static_cast<int16_t>(u - 4);
        }
      return;
    }
    case TypeId::q4_K:
    case TypeId::q5_K: {
      const bool five = type == TypeId::q5_K;
      *D = f16(block);
      *Dmin = f16(block + 2);
      uint8_t s[8], m[8];
      ggml_unpack_k4_scales(block + 4, s, m);
      for (int j = 0; j < 16; ++j) {
        sc[j] = s[j / 2];
        mn[j] = m[j / 2];
      }
      const uint8_t* qh = five ? block + 16 : nullptr;
      const uint8_t* qs = block + (five ? 48 : 16);
      // Group k (32 elements): nibble (k odd: high) of qs[32·(k/2) + l]; q5_K: + 16·bit k of qh[l].
      for (int k = 0; k < 8; ++k)
        for (int l = 0; l < 32; ++l) {
          int u = (qs[32 * (k / 2) + l] >> (4 * (k % 2))) & 0xF;
          if (five) u |= ((qh[l] >> k) & 1) << 4;
          c[32 * k + l] = static_cast<int16_t>(u);
        }
      return;
    }
    case TypeId::q6_K: {
      BlockQ6_K b;
      std::memcpy(&b, block, sizeof b);
      *D = f16(reinterpret_cast<const uint8_t*>(&b.d));
      for (int j = 0; j < 16; ++j) sc[j] = b.scales[j];
      // Group k = 4n + s: low 4 bits = nibble (s / 2: high) of ql[64n + 32·(s % 2) + l], high 2
      // bits = bits 2s..2s+1 of qh[32n + l].
      for (int k = 0; k < 8; ++k) {
        const int n = k / 4, s4 = k % 4;
        for (int l = 0; l < 32; ++l) {
          const int lo = (b.ql[64 * n + 32 * (s4 % 2) + l] >> (4 * (s4 / 2))) & 0xF;
          const int hi = (b.qh[32 * n + l] >> (2 * s4)) & 3;
          c[32 * k + l] = static_cast<int16_t>((lo | (hi << 4)) - 32);
        }
      }
      return;
    }
    case TypeId::iq4_xs: {
      BlockIq4Xs b;
      std::memcpy(&b, block, sizeof b);
      *D = f16(reinterpret_cast<const uint8_t*>(&b.d));
      for (int k = 0; k < 8; ++k) {
        const int ls = ((b.scales_l[k / 2] >> (4 * (k % 2))) & 0xF) | (((b.scales_h >> (2 * k)) & 3) << 4);
        sc[2 * k] = sc[2 * k + 1] = static_cast<int16_t>(ls - 32);
        for (int l = 0; l < 16; ++l) {
          c[32 * k + l] = kIq4nlValues[b.qs[16 * k + l] & 0xF];
          c[32 * k + 16 + l] = kIq4nlValues[b.qs[16 * k + l] >> 4];
        }
      }
      return;
    }
    default:
      TQ_CHECK(false, "ggml_int_kquant_block: type {} is not a k-quant", static_cast<uint32_t>(type));
  }
}

}  // namespace tq
