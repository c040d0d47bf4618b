// What a Session refuses (issue 12): a context whose memory cannot fit, refused before anything is
// allocated with the numbers; a non-finite logit, an error instead of a sampled token or "PPL nan".
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "../common/tiny_model.h"
#include "core/memory_info.h"
#include "runtime/session.h"
#include "runtime/session_memory.h"

namespace tq {
namespace {

TEST(SessionMemory, ContextThatCannotFitIsRefusedWithTheNumbers) {
  auto model = testing::tiny_model("tiny-llama3", true);
  SessionOptions so;
  so.n_ctx = 100'000'000;
  auto need = session_memory(*model, so);
  ASSERT_TRUE(need.ok()) << need.status().to_string();
  // 2 layers x (K + V) x 2 KV heads x head_dim 16 x 2 bytes (f16).
  EXPECT_DOUBLE_EQ(need->kv_bytes_per_position, 2 * 2 * 2 * 16 * 2);
  EXPECT_DOUBLE_EQ(need->kv_bytes, 256.0 * 1e8);
  EXPECT_GT(need->weight_bytes, 0);
  const uint64_t avail = uint64_t{1} << 30;
  const Status st = check_session_memory(*model, *need, avail);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  const std::string& m = st.message();
  EXPECT_EQ(m.rfind(model->file.path + ": a context of 100,000,000 positions needs ", 0), 0u) << m;
  EXPECT_NE(m.find("KV cache 23.84 GiB at 256 B per position"), std::string::npos) << m;
  EXPECT_NE(m.find("but 1.00 GiB is available: at most "), std::string::npos) << m;
  // The context it names fits, one more position does not.
  const size_t at = m.find("at most ") + 8;
  std::string digits;
  for (size_t i = at; i < m.size() && (std::isdigit(m[i]) || m[i] == ','); ++i)
    if (m[i] != ',') digits += m[i];
  const int64_t fits = std::stoll(digits);
  so.n_ctx = fits;
  EXPECT_TRUE(check_session_memory(*model, *session_memory(*model, so), avail).ok());
  so.n_ctx = fits + 1;
  EXPECT_FALSE(check_session_memory(*model, *session_memory(*model, so), avail).ok());
  // Unknown available memory (no /proc): no check.
  EXPECT_TRUE(check_session_memory(*model, *need, 0).ok());
}

// Session::create refuses before allocating: huge contexts are errors, never std::bad_alloc.
TEST(SessionMemory, HugeContextsAreRefusedBeforeAllocating) {
  auto model = testing::tiny_model("tiny-llama3", true);
  for (const int64_t ctx : {int64_t{1} << 40, int64_t{1} << 62, std::numeric_limits<int64_t>::max()}) {
    SessionOptions so;
    so.n_ctx = ctx;
    auto s = Session::create(*model, so);
    ASSERT_FALSE(s.ok()) << ctx;
    EXPECT_EQ(s.status().code(), StatusCode::kOutOfRange) << s.status().to_string();
    EXPECT_NE(s.status().message().find("is available"), std::string::npos) << s.status().to_string();
  }
  SessionOptions so;
  so.n_ctx = 64;
  EXPECT_TRUE(Session::create(*model, so).ok());
  so.n_batch = 0;
  EXPECT_FALSE(session_memory(*model, so).ok());
}

TEST(SessionLogits, NonFiniteLogitIsAnError) {
  auto model = testing::tiny_model("tiny-llama3", true);
  model->output_norm[3] = std::numeric_limits<float>::quiet_NaN();  // damages every logit
  for (const LogitsMode mode : {LogitsMode::kLast, LogitsMode::kAll}) {
    auto s = Session::create(*model, {16, 16, {}});
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    const std::vector<int32_t> ids = {5, 6, 7};
    const Status st = (*s)->eval(ids, mode);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kCorruptFile);
    EXPECT_NE(st.message().find(model->file.path + ": the model computed a non-finite logit (NaN "
                                "for vocabulary entry 0) at position " +
                                std::string(mode == LogitsMode::kAll ? "0 (token 5)" : "2 (token 7)")),
              std::string::npos)
        << st.message();
  }
  // Without logits (filling the cache) nothing is checked.
  auto s = Session::create(*model, {16, 16, {}});
  EXPECT_TRUE((*s)->eval(std::vector<int32_t>{1, 2}, LogitsMode::kNone).ok());
}

}  // namespace
}  // namespace tq
