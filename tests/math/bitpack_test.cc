#include "math/bitpack.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "../common/test_seed.h"
#include "core/rng.h"

namespace tq {
namespace {

using testing::test_seed;

TEST(Bitpack, RoundTripsEveryWidthAtAwkwardLengths) {
  Rng rng(test_seed("bitpack round trip"));
  for (int bits = 1; bits <= 8; ++bits)
    for (int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 33, 64, 1000, 1001}) {
      std::vector<uint8_t> codes(n);
      for (auto& c : codes) c = static_cast<uint8_t>(rng.next_u64() & ((1u << bits) - 1));
      const int64_t n_bytes = packed_bytes(n, bits);
      // Exactly sized heap buffers: ASan catches any read or write past the contract.
      auto packed = std::make_unique<uint8_t[]>(n_bytes + 1);
      auto expect = std::make_unique<uint8_t[]>(n_bytes + 1);
      pack_bits(codes.data(), n, bits, packed.get());
      ref::pack_bits(codes.data(), n, bits, expect.get());
      for (int64_t i = 0; i < n_bytes; ++i) ASSERT_EQ(packed[i], expect[i]) << "bits=" << bits << " n=" << n << " byte " << i;
      std::vector<uint8_t> back(n + 1, 0xAB);
      unpack_bits(packed.get(), n, bits, back.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back[i], codes[i]) << "bits=" << bits << " n=" << n << " code " << i;
      EXPECT_EQ(back[n], 0xAB) << "unpack wrote past n codes";
      std::vector<uint8_t> back_ref(n);
      ref::unpack_bits(packed.get(), n, bits, back_ref.data());
      EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + n), back_ref);
    }
}

TEST(Bitpack, LayoutIsLsbFirst) {
  const uint8_t four[] = {0x1, 0x2, 0xF};
  uint8_t out[2];
  pack_bits(four, 3, 4, out);
  EXPECT_EQ(out[0], 0x21);  // code 0 in the low nibble
  EXPECT_EQ(out[1], 0x0F);  // padding bits are zero
  const uint8_t ones[] = {1, 0, 0, 0, 0, 0, 0, 1, 1};
  pack_bits(ones, 9, 1, out);
  EXPECT_EQ(out[0], 0x81);
  EXPECT_EQ(out[1], 0x01);
  const uint8_t three[] = {5, 3};  // 101 then 011 → bits 0..5 = 1,0,1,1,1,0 → 0b011101
  pack_bits(three, 2, 3, out);
  EXPECT_EQ(out[0], 0x1D);
  EXPECT_EQ(packed_bytes(1000, 3), 375);
  EXPECT_EQ(packed_bytes(7, 3), 3);
}

TEST(Bitpack, HighBitsOfCodesAreIgnored) {
  const uint8_t codes[] = {0xFF, 0x12, 0x80, 0x7, 0x9, 0x10, 0x3, 0xFE, 0x41};
  for (int bits = 1; bits <= 7; ++bits) {
    std::vector<uint8_t> masked(9), a(packed_bytes(9, bits)), b(a.size());
    for (int i = 0; i < 9; ++i) masked[i] = codes[i] & ((1u << bits) - 1);
    pack_bits(codes, 9, bits, a.data());
    pack_bits(masked.data(), 9, bits, b.data());
    EXPECT_EQ(a, b) << bits;
  }
}

TEST(Bitpack, CheckedVersionsRejectBadInput) {
  std::vector<uint8_t> codes = {1, 2, 3}, packed(2);
  EXPECT_TRUE(pack_bits_checked(codes, 4, packed).ok());
  EXPECT_FALSE(pack_bits_checked(codes, 0, packed).ok());
  EXPECT_FALSE(pack_bits_checked(codes, 9, packed).ok());
  std::vector<uint8_t> wrong(3);
  auto st = pack_bits_checked(codes, 4, wrong);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("need 2"), std::string::npos) << st.message();
  std::vector<uint8_t> too_big = {1, 4};
  EXPECT_FALSE(pack_bits_checked(too_big, 2, std::span<uint8_t>(packed.data(), 1)).ok());
  std::vector<uint8_t> five(5);  // 5 nibbles need 3 bytes, not 2
  EXPECT_FALSE(unpack_bits_checked(packed, 4, five).ok());
  EXPECT_TRUE(unpack_bits_checked(std::span<const uint8_t>(packed.data(), 2), 4, codes).ok());
}

}  // namespace
}  // namespace tq
