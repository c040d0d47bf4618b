// GGUF reader and writer: the Python-written fixture, round trips of every metadata type and
// tensor layout, streaming, and corrupted / truncated files (each a clear error naming the file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/file_util.h"
#include "core/half.h"
#include "formats/format.h"
#include "io/checksum.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"
#include "../common/scratch_dir.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kMetaFixture = std::string(TQ_SOURCE_DIR) + "/tests/data/gguf/meta.gguf";

std::string scratch(const std::string& name) {
  return (testing::scratch_dir("gguf_test") / name).string();
}

std::string read_bytes(const std::string& path) {
  return *read_file(path);
}

const TensorInfo* find(const GgufFile& g, const std::string& name) {
  for (const auto& t : g.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// ---- the fixture written by the gguf Python package -------------------------------------------

TEST(GgufReader, ReadsPythonFixtureMetadataOfEveryType) {
  auto g = read_gguf(kMetaFixture);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->version, 3u);
  EXPECT_EQ(g->alignment, 64u);
  EXPECT_EQ(g->data_offset % 64, 0u);
  const Metadata& m = g->meta;
  EXPECT_EQ(*m.get_string("general.architecture"), "fixture");
  auto expect = [&](const char* key, MetaType type, int64_t value) {
    const MetaValue* v = m.find(key);
    ASSERT_NE(v, nullptr) << key;
    EXPECT_EQ(v->type, type) << key;
    EXPECT_EQ(*m.get_int(key), value) << key;
  };
  expect("test.u8", MetaType::u8, 200);
  expect("test.i8", MetaType::i8, -100);
  expect("test.u16", MetaType::u16, 60000);
  expect("test.i16", MetaType::i16, -30000);
  expect("test.u32", MetaType::u32, 4000000000LL);
  expect("test.i32", MetaType::i32, -2000000000LL);
  expect("test.i64", MetaType::i64, -(int64_t{1} << 62));
  EXPECT_EQ(m.find("test.u64")->type, MetaType::u64);
  EXPECT_EQ(std::get<uint64_t>(m.find("test.u64")->v), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(m.find("test.f32")->type, MetaType::f32);
  EXPECT_EQ(*m.get_float("test.f32"), 1.5);
  EXPECT_EQ(m.find("test.f64")->type, MetaType::f64);
  EXPECT_EQ(*m.get_float("test.f64"), 0.1);
  EXPECT_EQ(m.find("test.bool")->type, MetaType::boolean);
  EXPECT_TRUE(m.get_bool_or("test.bool", false));
  EXPECT_EQ(*m.get_string("test.string"), "h\xc3\xa9llo \xe2\x9c\x93");
  EXPECT_EQ(*m.get_int_array("test.arr_i32"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(m.find("test.arr_i32")->get_array()->elem_type, MetaType::i32);
  EXPECT_EQ(*m.get_string_array("test.arr_str"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(*m.get_float_array("test.arr_f32"), (std::vector<double>{0.5, -2.25}));
  EXPECT_EQ(m.find("test.arr_bool")->get_array()->elem_type, MetaType::boolean);
  EXPECT_EQ(*m.get_int_array("test.arr_u16"), (std::vector<int64_t>{1, 65535}));
  EXPECT_EQ(m.find("test.arr_u16")->get_array()->elem_type, MetaType::u16);
  EXPECT_EQ(*m.get_int_array("test.arr_i64"), (std::vector<int64_t>{-(int64_t{1} << 40), 7}));
  const MetaArray* nested = m.find("test.arr_nested")->get_array();
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->elem_type, MetaType::array);
  ASSERT_EQ(nested->items.size(), 2u);
  EXPECT_EQ(nested->items[0].get_array()->items.size(), 2u);
  EXPECT_EQ(nested->items[1].get_array()->elem_type, MetaType::i32);
  int64_t three = 0;
  EXPECT_TRUE(nested->items[1].get_array()->items[0].get_int(&three));
  EXPECT_EQ(three, 3);
  const MetaArray* nested_str = m.find("test.arr_nested_str")->get_array();
  EXPECT_EQ(*nested_str->items[1].get_array()->items[1].get_string(), "zz");
}

TEST(GgufReader, ReadsPythonFixtureTensorsOutermostFirst) {
  auto g = read_gguf(kMetaFixture);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_EQ(g->tensors.size(), 4u);
  // numpy shapes (outermost first) are what we report; GGUF stores them reversed.
  EXPECT_EQ(find(*g, "t1")->shape, (std::vector<int64_t>{3}));
  EXPECT_EQ(find(*g, "t2")->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(find(*g, "t3")->shape, (std::vector<int64_t>{4, 1, 2, 8}));
  EXPECT_EQ(find(*g, "t4")->shape, (std::vector<int64_t>{2, 64}));
  EXPECT_EQ(find(*g, "t4")->type, TypeId::q8_0);
  EXPECT_EQ(find(*g, "t4")->n_bytes, 2u * 2 * 34);
  // Row-major data: element [i][j][k] of t2 is its flat index.
  const TensorInfo* t2 = find(*g, "t2");
  for (int i = 0; i < 24; ++i) {
    float v;
    std::memcpy(&v, t2->data + 4 * i, 4);
    EXPECT_EQ(v, static_cast<float>(i));
  }
  const TensorInfo* t3 = find(*g, "t3");
  uint16_t h;
  std::memcpy(&h, t3->data + 2 * 63, 2);
  EXPECT_EQ(f16_to_f32(h), 63.0f);
  for (size_t i = 0; i < g->tensors.size(); ++i) {
    EXPECT_EQ(g->tensor_offsets[i] % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(g->tensors[i].data) % 64, 0u);  // mmap is page aligned
  }
}

TEST(GgufReader, OpenModelDispatchesOnMagic) {
  auto mf = open_model(kMetaFixture);
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  EXPECT_EQ(mf->kind, SourceKind::kGguf);
  EXPECT_EQ(mf->architecture(), "fixture");
  EXPECT_FALSE(mf->qk_rows_permuted());
  ASSERT_NE(mf->find("t2"), nullptr);
  EXPECT_EQ(mf->find("t2")->file, kMetaFixture);
  EXPECT_EQ(mf->maps.size(), 1u);

  const std::string other = scratch("not_a_model.bin");
  ASSERT_TRUE(write_file_atomic(other, "hello world").ok());
  auto bad = open_model(other);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(other), std::string::npos);
}

// ---- writer round trip ------------------------------------------------------------------------

Metadata every_type_metadata() {
  Metadata m;
  m.set("general.architecture", MetaValue::str("llama"));
  m.set("general.alignment", MetaValue::u32(128));
  m.set("a.u8", MetaValue::u8(255));
  m.set("a.i8", MetaValue::i8(-128));
  m.set("a.u16", MetaValue::u16(65535));
  m.set("a.i16", MetaValue::i16(-32768));
  m.set("a.u32", MetaValue::u32(4294967295u));
  m.set("a.i32", MetaValue::i32(-2147483647 - 1));
  m.set("a.u64", MetaValue::u64(UINT64_MAX));
  m.set("a.i64", MetaValue::i64(INT64_MIN));
  m.set("a.f32", MetaValue::f32(-0.1f));
  m.set("a.f64", MetaValue::f64(1e300));
  m.set("a.bool", MetaValue::boolean(false));
  m.set("a.str", MetaValue::str(std::string("nul\0inside", 10)));
  m.set("a.empty_str", MetaValue::str(""));
  m.set("a.empty_arr", MetaValue::array(MetaType::f64, {}));
  m.set("a.arr_u8", MetaValue::array(MetaType::u8, {MetaValue::u8(1), MetaValue::u8(2)}));
  m.set("a.arr_str", MetaValue::array(MetaType::string, {MetaValue::str("x"), MetaValue::str("")}));
  m.set("a.nested",
        MetaValue::array(MetaType::array,
                         {MetaValue::array(MetaType::i64, {MetaValue::i64(-5)}),
                          MetaValue::array(MetaType::string, {MetaValue::str("deep")})}));
  return m;
}

void expect_same_value(const MetaValue& a, const MetaValue& b, const std::string& key) {
  ASSERT_EQ(a.type, b.type) << key;
  if (a.get_array()) {
    ASSERT_NE(b.get_array(), nullptr) << key;
    EXPECT_EQ(a.get_array()->elem_type, b.get_array()->elem_type) << key;
    ASSERT_EQ(a.get_array()->items.size(), b.get_array()->items.size()) << key;
    for (size_t i = 0; i < a.get_array()->items.size(); ++i)
      expect_same_value(a.get_array()->items[i], b.get_array()->items[i], key);
    return;
  }
  if (a.type == MetaType::f32) {
    EXPECT_EQ(static_cast<float>(std::get<double>(a.v)), static_cast<float>(std::get<double>(b.v)))
        << key;
    return;
  }
  EXPECT_EQ(a.v, b.v) << key;
}

TEST(GgufWriter, RoundTripsEveryMetadataTypeAndTensorLayout) {
  const Metadata meta = every_type_metadata();
  std::vector<GgufTensorDecl> decls = {
      {"a", TypeId::f32, {5}},         {"b", TypeId::f16, {3, 7}},
      {"c", TypeId::q8_0, {2, 2, 64}}, {"d", TypeId::q4_K, {1, 1, 2, 256}},
      {"e", TypeId::bf16, {1}},
  };
  std::vector<std::string> bytes;
  std::vector<const void*> ptrs;
  uint8_t k = 1;
  for (const auto& d : decls) {
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < d.shape.size(); ++i) rows *= d.shape[i];
    std::string b(*row_bytes(d.type, d.shape.back()) * rows, '\0');
    for (auto& c : b) c = static_cast<char>(k++ * 7);
    bytes.push_back(std::move(b));
  }
  for (const auto& b : bytes) ptrs.push_back(b.data());
  const std::string path = scratch("roundtrip.gguf");
  ASSERT_TRUE(write_gguf(path, meta, decls, ptrs).ok());

  auto g = read_gguf(path);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(g->version, 3u);
  EXPECT_EQ(g->alignment, 128u);
  // Every key written, plus the per-tensor checksums the writer adds (io/checksum.h).
  ASSERT_EQ(g->meta.items().size(), meta.items().size() + 1);
  ASSERT_NE(g->meta.find(kTensorChecksumsKey), nullptr);
  for (const auto& [key, v] : meta.items()) {
    const MetaValue* r = g->meta.find(key);
    ASSERT_NE(r, nullptr) << key;
    expect_same_value(v, *r, key);
  }
  ASSERT_EQ(g->tensors.size(), decls.size());
  uint64_t expect_offset = 0;
  for (size_t i = 0; i < decls.size(); ++i) {
    EXPECT_EQ(g->tensors[i].name, decls[i].name);
    EXPECT_EQ(g->tensors[i].type, decls[i].type);
    EXPECT_EQ(g->tensors[i].shape, decls[i].shape);
    ASSERT_EQ(g->tensors[i].n_bytes, bytes[i].size());
    EXPECT_EQ(std::memcmp(g->tensors[i].data, bytes[i].data(), bytes[i].size()), 0)
        << decls[i].name;
    // llama.cpp requires tensors packed in order, each padded to the alignment.
    EXPECT_EQ(g->tensor_offsets[i], expect_offset);
    expect_offset += (bytes[i].size() + 127) / 128 * 128;
  }
  EXPECT_EQ(fs::file_size(path), g->data_offset + expect_offset);
  // The first key is general.architecture (llama.cpp tools print it first).
  const std::string raw = read_bytes(path);
  EXPECT_EQ(raw.substr(24 + 8, 20), "general.architecture");
}

TEST(GgufWriter, StreamsTensorsInPieces) {
  Metadata meta;
  meta.set("general.architecture", MetaValue::str("llama"));
  const std::vector<GgufTensorDecl> decls = {{"x", TypeId::q8_0, {3, 32}}, {"y", TypeId::f32, {2}}};
  const std::string path = scratch("pieces.gguf");
  auto w = GgufWriter::create(path, meta, decls);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  std::string x(3 * 34, 'x'), y(8, 'y');
  EXPECT_EQ((*w)->current_tensor(), 0u);
  ASSERT_TRUE((*w)->write(x.data(), 34).ok());  // one row at a time
  ASSERT_TRUE((*w)->write(x.data() + 34, 34).ok());
  EXPECT_EQ((*w)->current_remaining_bytes(), 34u);
  EXPECT_FALSE((*w)->write(x.data(), 35).ok());  // past the end of "x"
  ASSERT_TRUE((*w)->write(x.data() + 68, 34).ok());
  EXPECT_EQ((*w)->current_tensor(), 1u);
  EXPECT_FALSE((*w)->finish().ok());  // "y" missing
  EXPECT_FALSE(fs::exists(path));     // nothing at the path until finish()
  ASSERT_TRUE((*w)->write(y.data(), 8).ok());
  EXPECT_FALSE((*w)->write(y.data(), 1).ok());  // everything already written
  ASSERT_TRUE((*w)->finish().ok());
  auto g = read_gguf(path);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(g->tensors[0].data), x.size()), x);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(g->tensors[1].data), y.size()), y);
  EXPECT_EQ(fs::file_size(path), (*w)->file_bytes());
}

// Issue 12: random byte flips in a tq4 file ran as garbage, and so did a tensor whose type was
// edited to a smaller one. Files tq writes carry a checksum of each tensor (type, shape, bytes).
TEST(GgufChecksums, EveryTensorIsVerifiedAndDamageNamesTheTensor) {
  Metadata meta;
  meta.set("general.architecture", MetaValue::str("llama"));
  const std::vector<GgufTensorDecl> decls = {
      {"x", TypeId::f16, {4, 64}}, {"y", TypeId::f32, {3}}, {"z", TypeId::q8_0, {2, 32}}};
  std::vector<std::string> data = {std::string(512, 'x'), std::string(12, 'y'), std::string(68, 'z')};
  const std::string path = scratch("sums.gguf");
  ASSERT_TRUE(write_gguf(path, meta, decls, {data[0].data(), data[1].data(), data[2].data()}).ok());
  auto mf = open_model(path);
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  auto r = verify_tensor_checksums(*mf);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->present);
  EXPECT_EQ(r->n_tensors, 3u);
  EXPECT_EQ(r->n_bytes, 512u + 12u + 68u);
  EXPECT_TRUE(verify_checksums_at_load(*mf).ok());
  // The checksum covers the descriptor: same bytes under another shape, type or name hash apart.
  TensorInfo t = mf->tensors[0];
  const uint64_t sum = tensor_checksum(t);
  t.shape = {8, 32};
  EXPECT_NE(tensor_checksum(t), sum);
  t.shape = {4, 64};
  t.type = TypeId::bf16;
  EXPECT_NE(tensor_checksum(t), sum);
  t.type = TypeId::f16;
  t.name = "w";
  EXPECT_NE(tensor_checksum(t), sum);
  t.name = "x";
  EXPECT_EQ(tensor_checksum(t), sum);

  const std::string good = read_bytes(path);
  auto damaged = [&](const std::string& bytes) {
    const std::string p = scratch("damaged.gguf");
    EXPECT_TRUE(write_file_atomic(p, bytes).ok());
    auto m = open_model(p);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    auto v = verify_tensor_checksums(*m);
    EXPECT_FALSE(v.ok());
    EXPECT_FALSE(verify_checksums_at_load(*m).ok());
    return v.ok() ? std::string("verified") : v.status().message();
  };
  std::string flip = good;
  const size_t y_at = good.find(std::string(12, 'y'));
  ASSERT_NE(y_at, std::string::npos);
  flip[y_at + 5] ^= 0x10;
  EXPECT_EQ(damaged(flip).find(scratch("damaged.gguf") + ": tensor 'y' (f32 [3]) is damaged"), 0u)
      << damaged(flip);
  // Type edited f16 -> q8_0 (a smaller type; the reader accepts it, the checksum does not).
  std::string retype = good;
  const size_t x_info = good.find(std::string("\x01\0\0\0\0\0\0\0x", 9));
  ASSERT_NE(x_info, std::string::npos);
  const size_t type_at = x_info + 9 + 4 + 16;
  ASSERT_EQ(retype[type_at], 1);  // f16
  retype[type_at] = 8;            // q8_0
  EXPECT_NE(damaged(retype).find("tensor 'x' (q8_0 [4, 64]) is damaged"), std::string::npos)
      << damaged(retype);
  // A checksum array of the wrong length or type: a clear error naming the key.
  ModelFile short_sums = *mf;
  short_sums.meta.set(kTensorChecksumsKey, MetaValue::array(MetaType::u64, {MetaValue::u64(1)}));
  auto v = verify_tensor_checksums(short_sums);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find(std::string(kTensorChecksumsKey) +
                                      "' must be an array of 3 u64 values (one per tensor), not 1 "
                                      "u64 values"),
            std::string::npos)
      << v.status().message();
}

// Files not written by tq (no checksums) and HF folders are not verified (present = false).
TEST(GgufChecksums, FilesWithoutChecksumsAreNotVerified) {
  auto mf = open_model(kMetaFixture);  // written by the gguf Python package
  ASSERT_TRUE(mf.ok()) << mf.status().to_string();
  auto r = verify_tensor_checksums(*mf);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->present);
}

TEST(GgufWriter, AbandonedWriterLeavesNoFile) {
  const std::string path = scratch("abandoned.gguf");
  {
    Metadata meta;
    auto w = GgufWriter::create(path, meta, {{"x", TypeId::f32, {4}}});
    ASSERT_TRUE(w.ok());
  }
  EXPECT_FALSE(fs::exists(path));
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(e.path().string().find("abandoned.gguf.tmp"), std::string::npos) << e.path();
}

TEST(GgufWriter, RejectsBadDeclarationsAndValues) {
  const std::string path = scratch("bad_decl.gguf");
  Metadata meta;
  auto err = [&](const std::vector<GgufTensorDecl>& d, const Metadata& m = Metadata()) {
    auto w = GgufWriter::create(path, m, d);
    EXPECT_FALSE(w.ok());
    return w.ok() ? std::string() : w.status().message();
  };
  EXPECT_NE(err({{std::string(64, 'n'), TypeId::f32, {1}}}).find("1..63 bytes"), std::string::npos);
  EXPECT_NE(err({{"a", TypeId::f32, {1}}, {"a", TypeId::f32, {1}}}).find("twice"),
            std::string::npos);
  EXPECT_NE(err({{"a", TypeId::f32, {1, 1, 1, 1, 1}}}).find("dimensions"), std::string::npos);
  EXPECT_NE(err({{"a", TypeId::f32, {0, 4}}}).find("non-positive"), std::string::npos);
  EXPECT_NE(err({{"a", TypeId::q4_K, {2, 100}}}).find("multiple"), std::string::npos);
  EXPECT_NE(err({{"a", static_cast<TypeId>(4), {2}}}).find("unknown type"), std::string::npos);
  Metadata m;
  m.set("k", MetaValue{MetaType::u8, uint64_t{256}});
  EXPECT_NE(err({}, m).find("does not fit u8"), std::string::npos);
  Metadata m2;
  m2.set("k", MetaValue::array(MetaType::u32, {MetaValue::str("x")}));
  EXPECT_NE(err({}, m2).find("holds a string element"), std::string::npos);
  Metadata m3;
  m3.set("general.alignment", MetaValue::u32(48));
  EXPECT_NE(err({}, m3).find("power of two"), std::string::npos);
  EXPECT_FALSE(fs::exists(path));
}

// ---- corrupted and truncated files ------------------------------------------------------------

// A minimal valid GGUF built byte by byte, with knobs to break each field. Layout:
// kv "general.architecture" = "llama", kv "general.alignment" = u32 32,
// tensor "a": f32 [8] at offset 0 (32 bytes), tensor "b": q8_0 2 x 32 at offset 32 (68 bytes).
struct Spec {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors, n_kv;
  std::optional<uint64_t> arch_value_len;  // string length field of the architecture value
  uint32_t alignment_type = 4;             // u32
  uint32_t alignment = 32;
  uint32_t a_dims = 1;
  uint64_t a_ne0 = 8;
  uint32_t b_type = 8;
  uint64_t b_offset = 32;
  uint64_t b_ne1 = 2;
  std::string b_name = "b";
  uint32_t bool_value = 1;  // an extra bool key's byte (> 1 is corrupt)
  uint32_t arr_type = 5;    // element type of an extra array key
  uint64_t arr_count = 2;
  size_t truncate = 0;  // bytes cut from the end
};

template <typename T>
void put(std::string& s, T x) {
  s.append(reinterpret_cast<const char*>(&x), sizeof(T));
}
void put_str(std::string& s, const std::string& x, std::optional<uint64_t> len = {}) {
  put<uint64_t>(s, len.value_or(x.size()));
  s += x;
}

std::string build(const Spec& sp) {
  std::string s = sp.magic;
  put<uint32_t>(s, sp.version);
  put<uint64_t>(s, sp.n_tensors.value_or(2));
  put<uint64_t>(s, sp.n_kv.value_or(4));
  put_str(s, "general.architecture");
  put<uint32_t>(s, 8);
  put_str(s, "llama", sp.arch_value_len);
  put_str(s, "general.alignment");
  put<uint32_t>(s, sp.alignment_type);
  put<uint32_t>(s, sp.alignment);
  put_str(s, "x.flag");
  put<uint32_t>(s, 7);
  put<uint8_t>(s, static_cast<uint8_t>(sp.bool_value));
  put_str(s, "x.arr");
  put<uint32_t>(s, 9);
  put<uint32_t>(s, sp.arr_type);
  put<uint64_t>(s, sp.arr_count);
  for (uint64_t i = 0; i < std::min<uint64_t>(sp.arr_count, 2); ++i)
    put<int32_t>(s, static_cast<int32_t>(i));
  put_str(s, "a");
  put<uint32_t>(s, sp.a_dims);
  for (uint32_t d = 0; d < std::min<uint32_t>(sp.a_dims, 8); ++d)
    put<uint64_t>(s, d == 0 ? sp.a_ne0 : 1);
  put<uint32_t>(s, 0);
  put<uint64_t>(s, 0);
  put_str(s, sp.b_name);
  put<uint32_t>(s, 2);
  put<uint64_t>(s, 32);
  put<uint64_t>(s, sp.b_ne1);
  put<uint32_t>(s, sp.b_type);
  put<uint64_t>(s, sp.b_offset);
  s.resize((s.size() + 31) / 32 * 32, '\0');
  s.append(128, '\x01');
  s.resize(s.size() - std::min(sp.truncate, s.size()));
  return s;
}

Result<GgufFile> parse(const std::string& bytes, const std::string& path = "bad.gguf") {
  return parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

// Expects a parse error whose message names the file and contains `what`.
void expect_error(const Spec& sp, const std::string& what,
                  StatusCode code = StatusCode::kCorruptFile) {
  auto r = parse(build(sp));
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << what << "'";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_EQ(r.status().message().rfind("bad.gguf: ", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
}

TEST(GgufCorrupt, BaselineIsValid) {
  auto r = parse(build(Spec{}));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[1].shape, (std::vector<int64_t>{2, 32}));
}

TEST(GgufCorrupt, BadMagicAndVersion) {
  Spec s;
  s.magic = "GGUG";
  expect_error(s, "not a GGUF file");
  s = Spec{};
  s.version = 1;
  expect_error(s, "version 1", StatusCode::kUnsupported);
  s.version = 4;
  expect_error(s, "version 4 is not supported", StatusCode::kUnsupported);
  s.version = 0x03000000;
  expect_error(s, "big-endian", StatusCode::kUnsupported);
}

TEST(GgufCorrupt, HugeCounts) {
  Spec s;
  s.n_tensors = uint64_t{1} << 60;
  expect_error(s, "claims 1152921504606846976 tensors");
  s = Spec{};
  s.n_kv = ~uint64_t{0};
  expect_error(s, "metadata entries");
  s = Spec{};
  s.arr_count = uint64_t{1} << 40;
  expect_error(s, "cannot fit");
}

TEST(GgufCorrupt, StringLengthPastEnd) {
  Spec s;
  s.arch_value_len = uint64_t{1} << 33;
  expect_error(s, "string value of metadata key 'general.architecture' has length 8589934592");
}

TEST(GgufCorrupt, BadValuesAndTypes) {
  Spec s;
  s.bool_value = 2;
  expect_error(s, "bool value 2");
  s = Spec{};
  s.arr_type = 13;
  expect_error(s, "unknown array element type 13");
  s = Spec{};
  s.alignment = 48;
  expect_error(s, "not a power of two");
  s.alignment = 0;
  expect_error(s, "not a power of two");
  s = Spec{};
  s.alignment_type = 8;  // a string where the alignment should be: reads garbage as the length
  EXPECT_FALSE(parse(build(s)).ok());
}

TEST(GgufCorrupt, UnknownTensorTypeId) {
  Spec s;
  s.b_type = 4;  // removed ggml type q4_2
  expect_error(s, "tensor 'b' has unknown tensor type id 4", StatusCode::kUnsupported);
  s.b_type = 0x7fffffff;
  expect_error(s, "unknown tensor type id 2147483647", StatusCode::kUnsupported);
}

TEST(GgufCorrupt, BadShapes) {
  Spec s;
  s.a_dims = 5;
  expect_error(s, "tensor 'a' has 5 dimensions");
  s.a_dims = 0;
  expect_error(s, "tensor 'a' has 0 dimensions");
  s = Spec{};
  s.a_ne0 = 0;
  expect_error(s, "ne[0] = 0");
  s = Spec{};
  s.b_ne1 = uint64_t{1} << 61;  // 32 x 2^61 elements overflows the 2^62 limit
  expect_error(s, "overflows");
  // Issue 12: a 1-D f32 tensor of 2^62 elements is 2^64 bytes, which wrapped to 0 and was accepted.
  s = Spec{};
  s.a_ne0 = uint64_t{1} << 62;
  expect_error(s, "tensor 'a' (f32 [4611686018427387904]): a f32 row of 4611686018427387904 "
                  "elements needs more than 2^64 bytes");
  s.a_ne0 = (uint64_t{1} << 62) + 1;
  expect_error(s, "ne[0] = 4611686018427387905 (must be in [1, 2^62])");
  s = Spec{};
  s.b_type = 12;  // q4_K needs rows that are multiples of 256
  expect_error(s, "not a multiple of the q4_K block size 256");
}

TEST(GgufCorrupt, MisalignedOutOfBoundsAndOverlappingOffsets) {
  Spec s;
  s.b_offset = 33;
  expect_error(s, "tensor 'b' data offset 33 is not a multiple of the alignment 32");
  s.b_offset = 1 << 20;
  expect_error(s, "lies outside the data section");
  s.b_offset = ~uint64_t{0} - 31;  // aligned, would wrap around
  expect_error(s, "lies outside the data section");
  s = Spec{};
  s.b_offset = 0;
  expect_error(s, "tensors 'a' and 'b' overlap");
  s = Spec{};
  s.b_name = "a";
  expect_error(s, "tensor 'a' appears twice");
}

TEST(GgufCorrupt, TruncatedAnywhere) {
  const std::string full = build(Spec{});
  // Every proper prefix is an error (never a crash), and names the file.
  for (size_t n = 0; n < full.size(); ++n) {
    // Prefixes that end inside the final tensor's padding still hold all bytes of every tensor.
    if (n >= full.size() - 28) continue;
    auto r = parse(full.substr(0, n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.status().message().rfind("bad.gguf: ", 0), 0u) << r.status().message();
  }
  Spec s;
  s.truncate = 60;
  expect_error(s,
               "tensor 'b' data [32, 100) lies outside the data section of 68 bytes (truncated?)");
  s.truncate = 128 + 40;
  expect_error(s, "truncated");
}

TEST(GgufCorrupt, ErrorsFromFilesNameThePath) {
  Spec s;
  s.truncate = 60;
  const std::string path = scratch("truncated.gguf");
  ASSERT_TRUE(write_file_atomic(path, build(s)).ok());
  auto mf = open_model(path);
  ASSERT_FALSE(mf.ok());
  EXPECT_EQ(mf.status().message().rfind(path + ": ", 0), 0u) << mf.status().message();
  // A damaged magic in a *.gguf file still gets the GGUF reader's precise message.
  s = Spec{};
  s.magic = "GGML";
  ASSERT_TRUE(write_file_atomic(path, build(s)).ok());
  mf = open_model(path);
  ASSERT_FALSE(mf.ok());
  EXPECT_NE(mf.status().message().find("not a GGUF file"), std::string::npos)
      << mf.status().message();
}

}  // namespace
}  // namespace tq
