// Progress reporting for long work (quantizing, calibrating, perplexity) on stderr.
// On a terminal it redraws one line; otherwise it prints a line every ~5% so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tq {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true);
  ~Progress();
  // Advances by `n` units; `note` (optional) is shown after the counter, e.g. "ppl 47.1".
  void step(int64_t n = 1, const std::string& note = {});
  void set_note(const std::string& note) { note_ = note; }
  // Prints the final line with elapsed time. Called by the destructor if not called before.
  void finish();
  double elapsed_s() const;

 private:
  void draw(bool force);
  std::string label_, note_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_pct_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tq
