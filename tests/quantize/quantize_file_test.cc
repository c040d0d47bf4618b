// Quantized files as files: the turboquant.* metadata a run stores, a `tq quantize` killed midway
// (SIGTERM or SIGKILL) leaves no output file, and damaged quantized files are refused with an error
// that names the file and the problem.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/file_util.h"
#include "io/checksum.h"
#include "formats/format.h"
#include "quantize/pipeline.h"
#include "runtime/session.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kData = TQ_SHARED_DATA;
const std::string kModel = kData + "/models/tq-ref-s";
const std::string kTrain = kData + "/corpus/train-00.txt";

fs::path temp_dir() { return testing::scratch_dir("quant_file"); }

// A data-free tq4 tq-ref-s (fast), made once.
const std::string& quantized_file() {
  static const std::string path = [] {
    const std::string p = (temp_dir() / "s_tq4.gguf").string();
    auto m = load_model(kModel);
    testing::ok_or_throw(m.status());
    QuantizeOptions o;
    o.recipe = *parse_recipe("tq4;attn_v=tq5;blk.0.*=tq3");
    o.progress = false;
    auto r = quantize_model(**m, p, o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return p;
  }();
  return path;
}

TEST(QuantizedFile, StoresRecipeAndPerTensorTypes) {
  auto m = load_model(quantized_file());
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  const Metadata& meta = (*m)->file.meta;
  EXPECT_EQ(meta.get_string_or("turboquant.recipe", ""), "tq4;attn_v=tq5;blk.0.*=tq3");
  EXPECT_EQ(meta.get_string_or("turboquant.method", ""), "datafree");
  EXPECT_EQ(meta.get_int_or("turboquant.format_version", 0), 1);
  EXPECT_TRUE(meta.has("turboquant.weight.rotation_seed"));
  auto names = meta.get_string_array("turboquant.tensor.names");
  auto types = meta.get_string_array("turboquant.tensor.types");
  ASSERT_TRUE(names.ok() && types.ok());
  ASSERT_EQ(names->size(), types->size());
  std::map<std::string, std::string> type_of;
  for (size_t i = 0; i < names->size(); ++i) type_of[(*names)[i]] = (*types)[i];
  EXPECT_EQ(type_of["token_embd.weight"], "tq6g128");
  EXPECT_EQ(type_of["blk.0.attn_v.weight"], "tq3g128");  // later override wins
  EXPECT_EQ(type_of["blk.1.attn_v.weight"], "tq5g128");
  EXPECT_EQ(type_of["blk.1.ffn_up.weight"], "tq4g128");
  for (const auto& t : (*m)->file.tensors)
    if (t.shape.size() == 2) {
      EXPECT_EQ(type_name(t.type), type_of[t.name]) << t.name;
    }
  // It runs.
  auto s = Session::create(**m, {64, 64, {}});
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->eval(std::vector<int32_t>{1, 2, 3, 4}, LogitsMode::kLast).ok());
  for (float x : (*s)->last_logits()) ASSERT_TRUE(std::isfinite(x));
}

// Runs `tq quantize` and kills it once its temporary output exists.
void kill_midway(int sig) {
  const fs::path dir = temp_dir() / ("kill" + std::to_string(sig));
  fs::create_directories(dir);
  const std::string out = (dir / "out.gguf").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::freopen("/dev/null", "w", stdout);
    ::freopen("/dev/null", "w", stderr);
    ::execl(TQ_BINARY, TQ_BINARY, "quantize", "-q", "-m", kModel.c_str(), "-o", out.c_str(),
            "--recipe", "tq3", "--method", "full", "--calib", kTrain.c_str(), "--calib-windows",
            "16", "-t", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Writing has started when the process holds a file in `dir` open: an unnamed O_TMPFILE shows
  // in /proc as "<dir>/#<inode> (deleted)", a named temporary as "<dir>/out.gguf.tmp.<pid>".
  bool temp_seen = false, unnamed = false;
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  for (int i = 0; i < 600 && !temp_seen; ++i) {  // up to 60 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fds, ec)) {
      const std::string target = fs::read_symlink(e.path(), ec).string();
      if (target.rfind(dir.string() + "/", 0) != 0) continue;
      temp_seen = true;
      unnamed = target.find("out.gguf.tmp.") == std::string::npos;
    }
  }
  EXPECT_TRUE(temp_seen) << "tq quantize never started writing";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(pid, sig), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0))
      << "the run finished before it was killed";
  EXPECT_FALSE(fs::exists(out)) << "a killed run left " << out;
  int temps = 0;
  for (const auto& e : fs::directory_iterator(dir)) temps += e.path() != out;
  // SIGTERM runs the clean-up handler. SIGKILL cannot be caught: an unnamed temporary file
  // (O_TMPFILE) vanishes with the process; a named one (filesystems without O_TMPFILE) stays until
  // the next write of that path removes it (never the output path).
  if (sig == SIGTERM || unnamed) EXPECT_EQ(temps, 0);
  std::printf("%s: temporary %s, %d file(s) left\n", sig == SIGKILL ? "SIGKILL" : "SIGTERM",
              unnamed ? "unnamed (O_TMPFILE)" : "named", temps);
  fs::remove_all(dir);
}

TEST(QuantizeProcess, SigtermLeavesNoOutput) { kill_midway(SIGTERM); }
TEST(QuantizeProcess, SigkillLeavesNoOutput) { kill_midway(SIGKILL); }

// Byte offset of a tensor's type field in a GGUF file's tensor infos.
size_t type_field_offset(const std::string& bytes, const std::string& name) {
  std::string key(8, '\0');
  const uint64_t len = name.size();
  std::memcpy(key.data(), &len, 8);
  key += name;
  const size_t pos = bytes.rfind(key);  // the tensor infos follow the metadata (which lists names too)
  EXPECT_NE(pos, std::string::npos);
  uint32_t n_dims = 0;
  std::memcpy(&n_dims, bytes.data() + pos + key.size(), 4);
  return pos + key.size() + 4 + 8 * n_dims;
}

std::string corrupt_and_load(const std::string& bytes, const std::string& label) {
  const std::string p = (temp_dir() / ("corrupt_" + label + ".gguf")).string();
  EXPECT_TRUE(write_file_atomic(p, bytes).ok());
  auto m = load_model(p);
  EXPECT_FALSE(m.ok()) << label << ": a damaged file loaded";
  const std::string msg = m.ok() ? "" : m.status().message();
  EXPECT_NE(msg.find(p), std::string::npos) << label << ": the error does not name the file: " << msg;
  std::printf("%-16s -> %s\n", label.c_str(), msg.c_str());
  fs::remove(p);
  return msg;
}

// The same file as if tq had not written it: the checksum key renamed (same length), so loading
// skips the checksums and the binder's own checks are what answer.
std::string without_checksums(std::string bytes) {
  const size_t at = bytes.find(kTensorChecksumsKey);
  EXPECT_NE(at, std::string::npos);
  bytes[at] = 'x';
  return bytes;
}

TEST(QuantizedFile, DamagedFilesAreRefusedClearly) {
  const std::string good = *read_file(quantized_file());
  {  // truncated: the last tensors run past the end
    const std::string msg = corrupt_and_load(good.substr(0, good.size() - 4096), "truncated");
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  }
  {  // unknown type id
    std::string b = good;
    const uint32_t bad = 0x7fffu;
    std::memcpy(b.data() + type_field_offset(b, "blk.2.ffn_up.weight"), &bad, 4);
    const std::string msg = corrupt_and_load(b, "unknown type");
    EXPECT_NE(msg.find("blk.2.ffn_up.weight"), std::string::npos) << msg;
  }
  {  // a wider tq type: the tensor now runs into the next one
    std::string b = good;
    const size_t off = type_field_offset(b, "blk.0.attn_q.weight");
    uint32_t id = 0;
    std::memcpy(&id, b.data() + off, 4);
    ASSERT_STREQ(type_name(static_cast<TypeId>(id)), "tq3g128");
    const uint32_t other = static_cast<uint32_t>(find_format("tq4g128")->id);
    std::memcpy(b.data() + off, &other, 4);
    const std::string msg = corrupt_and_load(b, "wrong tq type");
    EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
  }
  {  // a tensor renamed away: missing
    std::string b = good;
    const size_t pos = b.rfind("blk.4.ffn_down.weight");
    ASSERT_NE(pos, std::string::npos);
    b[pos + 4] = '9';  // blk.9: not a layer of this model
    // The checksums cover the names (two swapped names would otherwise load)...
    std::string msg = corrupt_and_load(b, "renamed tensor");
    EXPECT_NE(msg.find("tensor 'blk.9.ffn_down.weight' (tq4g128 [256, 768]) is damaged"),
              std::string::npos) << msg;
    // ...and without them the binder finds the tensor missing.
    msg = corrupt_and_load(without_checksums(b), "missing tensor");
    EXPECT_NE(msg.find("blk.4.ffn_down.weight"), std::string::npos) << msg;
  }
}

// The embedding's hot rows ("+h<K>"): stored as residual rows and their token ids (the K tokens
// most frequent in the calibration windows), added to the lookup and the tied head's logits, and
// equal to the pipeline's dequantized embedding; damaged ids are refused.
std::string quantize_hot(bool dequantized) {
  const std::string p = (temp_dir() / (dequantized ? "s_hot_f32.gguf" : "s_hot.gguf")).string();
  auto m = load_model(kModel);
  testing::ok_or_throw(m.status());
  QuantizeOptions o;
  o.recipe = *parse_recipe("tq4;token_embd=tq3+h64");
  o.calib.text_path = kTrain;
  o.calib.n_windows = 2;
  o.calib.progress = false;
  o.progress = false;
  o.dequantized_output = dequantized;
  auto r = quantize_model(**m, p, o);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return p;
}

TEST(QuantizedFile, HotRowsOnlyForTheEmbeddingAndHead) {
  auto m = load_model(kModel);
  ASSERT_TRUE(m.ok());
  auto plan = make_plan(**m, *parse_recipe("tq3;attn_v=tq3+h4"));
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("token embedding and an untied output head only"),
            std::string::npos)
      << plan.status().message();
  EXPECT_FALSE(make_plan(**m, *parse_recipe("tq3;token_embd=tq3+h9000")).ok());  // > n_vocab rows
}

TEST(QuantizedFile, HotRowsAreStoredAndUsed) {
  const std::string path = quantize_hot(false);
  auto m = load_model(path);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  Model& model = **m;
  ASSERT_EQ(model.tok_embd_hot.ids.size(), 64u);
  for (size_t k = 1; k < model.tok_embd_hot.ids.size(); ++k) EXPECT_LT(model.tok_embd_hot.ids[k - 1], model.tok_embd_hot.ids[k]);
  EXPECT_EQ(model.tok_embd_hot.rows.n_rows, 64);
  EXPECT_STREQ(type_name(model.tok_embd_hot.rows.type), "tq3g128");
  // Lookup: base row + residual == the pipeline's dequantized row (the --dequantized file).
  auto f32 = load_model(quantize_hot(true));
  ASSERT_TRUE(f32.ok());
  const int64_t E = model.hp.n_embd;
  std::vector<float> base(E), res(E), want(E);
  for (int32_t id : {model.tok_embd_hot.ids.front(), model.tok_embd_hot.ids[31], model.tok_embd_hot.ids.back()}) {
    weight_row_to_float(model.tok_embd, id, base.data());
    weight_row_to_float(model.tok_embd_hot.rows, model.tok_embd_hot.slot[id], res.data());
    weight_row_to_float((*f32)->tok_embd, id, want.data());
    for (int64_t c = 0; c < E; ++c) ASSERT_NEAR(base[c] + res[c], want[c], 1e-6f) << "token " << id;
  }
  // The runtime uses them: the logits change when the hot rows are dropped.
  const std::vector<int32_t> prompt = {model.tok_embd_hot.ids[0], model.tok_embd_hot.ids[1], 5, model.tok_embd_hot.ids[2]};
  auto logits = [&]() {
    auto s = Session::create(model, {64, 64, {}});
    testing::ok_or_throw(s.status());
    EXPECT_TRUE((*s)->eval(prompt, LogitsMode::kLast).ok());
    auto l = (*s)->last_logits();
    return std::vector<float>(l.begin(), l.end());
  };
  const auto with = logits();
  for (float x : with) ASSERT_TRUE(std::isfinite(x));
  const std::vector<int32_t> ids = model.tok_embd_hot.ids;
  model.tok_embd_hot.ids.clear();
  model.tok_embd_hot.slot.clear();
  const auto without = logits();
  double diff = 0;
  for (size_t i = 0; i < with.size(); ++i) diff = std::max(diff, std::abs(double(with[i]) - without[i]));
  EXPECT_GT(diff, 1e-3);
  // Damaged ids (found in the file by their bytes): not increasing, out of range.
  const std::string good = *read_file(path);
  const size_t at = good.find(std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4));
  ASSERT_NE(at, std::string::npos);
  for (int32_t bad : {ids[0], int32_t{1} << 30}) {
    std::string b = good;
    std::memcpy(b.data() + at + 4, &bad, 4);
    // The file's checksums catch it first; without them (a file not written by tq) the binder.
    std::string msg = corrupt_and_load(b, "hot ids");
    EXPECT_NE(msg.find("tensor 'token_embd.hot_ids' (i32 [64]) is damaged"), std::string::npos) << msg;
    msg = corrupt_and_load(without_checksums(b), "hot ids");
    EXPECT_NE(msg.find("token_embd.hot_ids"), std::string::npos) << msg;
    EXPECT_NE(msg.find("strictly increasing"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace tq
