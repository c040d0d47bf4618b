#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tq {

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), tty_(::isatty(2)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::step(int64_t n, const std::string& note) {
  done_ += n;
  if (!note.empty()) note_ = note;
  draw(false);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const int pct = total_ > 0 ? static_cast<int>(100 * done_ / total_) : 0;
  const double el = elapsed_s();
  const double eta = (done_ > 0 && total_ > done_) ? el * (total_ - done_) / done_ : 0.0;
  if (tty_) {
    if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
    std::fprintf(stderr, "\r%s [%lld/%lld] %3d%% %.1fs eta %.1fs %s\033[K", label_.c_str(),
                 (long long)done_, (long long)total_, pct, el, eta, note_.c_str());
  } else {
    if (!force && pct / 5 == last_pct_ / 5) return;
    std::fprintf(stderr, "%s [%lld/%lld] %3d%% %.1fs %s\n", label_.c_str(), (long long)done_,
                 (long long)total_, pct, el, note_.c_str());
  }
  last_pct_ = pct;
  last_draw_ = now;
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  draw(true);
  if (tty_) std::fputc('\n', stderr);
}

}  // namespace tq
