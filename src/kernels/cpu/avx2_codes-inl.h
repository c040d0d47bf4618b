// AVX2 building blocks shared by the AVX2 kernels (matmul_quant_avx2-inl.h, kv_codes_avx2-inl.h):
// unpacking b-bit LSB-first code streams to one code per byte and mapping codes to int8 values
// through vpshufb tables. Included inside the includer's namespace, with TQ_AVX2_ATTR (the function
// target attribute) defined; no include guard (each inclusion is a separate copy).

TQ_AVX2_ATTR inline float LoadF16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

TQ_AVX2_ATTR inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 32 b-bit codes (4·b bytes of an LSB-first stream) → one code per byte, natural order; b = 1..8.
// 4 bits: each byte widened to a 16-bit word, its high nibble moved to the word's high byte; 8
// bits: the bytes. Otherwise each 128-bit lane holds 16 codes (2·b bytes): a vpshufb gathers each
// code's one or two bytes into a 16-bit word and vpmulhuw by 2^(16 − shift) moves the code to the
// bottom (a code within one byte: word = byte << 8, multiplier 2^(8 − shift)); a mask and
// vpackuswb give the bytes. Loads never leave the 4·b bytes.
template <int B>
struct Unpack32 {
  static constexpr int kLoad = B <= 1 ? 4 : B <= 3 ? 8 : 16;  // bytes per lane load
  static constexpr int kHiOff = 4 * B - kLoad > 0 ? 4 * B - kLoad : 0;  // lane 1's load offset
  __m256i idx[2], mul[2], mask;

  TQ_AVX2_ATTR Unpack32() {
    if constexpr (B == 4) {
      mask = _mm256_set1_epi16(0x0F0F);
    } else if constexpr (B != 8) {
      alignas(32) uint8_t ib[2][32];
      alignas(32) uint16_t mb[2][16];
      for (int lane = 0; lane < 2; ++lane) {
        const int lane_byte = lane * 2 * B;           // stream byte of the lane's first code
        const int load_off = lane == 0 ? 0 : kHiOff;  // stream byte at the lane register's byte 0
        for (int j = 0; j < 16; ++j) {
          const int bit = B * j, bj = lane_byte + bit / 8 - load_off, s = bit % 8;
          const int h = j / 8, k = j % 8;
          uint8_t* w = &ib[h][lane * 16 + 2 * k];
          if (s + B <= 8) {
            w[0] = 0x80;  // vpshufb: zero
            w[1] = static_cast<uint8_t>(bj);
            mb[h][lane * 8 + k] = static_cast<uint16_t>(1u << (8 - s));
          } else {  // s >= 1 here
            w[0] = static_cast<uint8_t>(bj);
            w[1] = static_cast<uint8_t>(bj + 1);
            mb[h][lane * 8 + k] = static_cast<uint16_t>(1u << (16 - s));
          }
        }
      }
      for (int h = 0; h < 2; ++h) {
        idx[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(ib[h]));
        mul[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(mb[h]));
      }
      mask = _mm256_set1_epi16(static_cast<int16_t>((1 << B) - 1));
    }
  }

  TQ_AVX2_ATTR inline __m256i operator()(const uint8_t* p) const {
    if constexpr (B == 8) {
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    } else if constexpr (B == 4) {
      const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      return _mm256_and_si256(_mm256_or_si256(w, _mm256_slli_epi16(w, 4)), mask);
    } else {
      __m128i lo, hi;
      if constexpr (kLoad == 4) {
        int32_t v;
        std::memcpy(&v, p, 4);
        lo = hi = _mm_cvtsi32_si128(v);
      } else if constexpr (kLoad == 8) {
        lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + kHiOff));
      } else {
        lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + kHiOff));
      }
      const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
      const __m256i a =
          _mm256_and_si256(_mm256_mulhi_epu16(_mm256_shuffle_epi8(v, idx[0]), mul[0]), mask);
      const __m256i b =
          _mm256_and_si256(_mm256_mulhi_epu16(_mm256_shuffle_epi8(v, idx[1]), mul[1]), mask);
      return _mm256_packus_epi16(a, b);
    }
  }
};

// Code → byte tables for b <= 6 bits: (2^b + 15)/16 vpshufb tables of 16 entries each (values
// repeat every 2^b entries), in both 128-bit lanes.
template <int B>
struct CodeTables {
  static_assert(B >= 1 && B <= 6, "vpshufb lookups cover up to 6-bit codes");
  static constexpr int kN = B == 5 ? 2 : B == 6 ? 4 : 1;
  __m256i t[kN];

  // value(k) for k < 2^B: the byte of code k.
  template <class F>
  TQ_AVX2_ATTR explicit CodeTables(F&& value) {
    const int n = 1 << B;
    for (int k = 0; k < kN; ++k) {
      alignas(32) uint8_t b[32];
      for (int i = 0; i < 16; ++i) b[i] = b[16 + i] = static_cast<uint8_t>(value((16 * k + i) % n));
      t[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(b));
    }
  }

  // codes: one code < 2^B per byte.
  TQ_AVX2_ATTR inline __m256i operator()(__m256i codes) const {
    if constexpr (B <= 4) {
      return _mm256_shuffle_epi8(t[0], codes);
    } else if constexpr (B == 5) {
      const __m256i sel = _mm256_slli_epi16(codes, 3);  // code bit 4 → byte bit 7
      return _mm256_blendv_epi8(_mm256_shuffle_epi8(t[0], codes), _mm256_shuffle_epi8(t[1], codes),
                                sel);
    } else {
      const __m256i s4 = _mm256_slli_epi16(codes, 3), s5 = _mm256_slli_epi16(codes, 2);
      const __m256i t01 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[0], codes),
                                             _mm256_shuffle_epi8(t[1], codes), s4);
      const __m256i t23 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[2], codes),
                                             _mm256_shuffle_epi8(t[3], codes), s4);
      return _mm256_blendv_epi8(t01, t23, s5);
    }
  }
};
