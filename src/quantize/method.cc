#include "quantize/method.h"

namespace tq {

Result<Method> parse_method(const std::string& text) {
  Method m;
  if (text == "datafree") return m;
  if (text == "full") {
    m.gptq = m.lsq = m.adam = true;
    return m;
  }
  size_t start = 0;
  for (;;) {
    const size_t p = text.find('+', start);
    const std::string t = text.substr(start, p == std::string::npos ? std::string::npos : p - start);
    if (t == "full") {
      if (m.gptq || m.lsq || m.adam)
        return invalid_argument("method '{}': 'full' (= gptq+lsq+adam) repeats a step", text);
      m.gptq = m.lsq = m.adam = true;
    } else {
      bool* flag = t == "gptq" ? &m.gptq : t == "lsq" ? &m.lsq : t == "adam" ? &m.adam
                 : t == "e2e" ? &m.e2e : t == "norm" ? &m.norm_scale : nullptr;
      if (!flag)
        return invalid_argument(
            "method '{}': unknown step '{}' (datafree, full, or steps gptq, lsq, adam, e2e, norm "
            "joined by '+')",
            text, t);
      if (*flag) return invalid_argument("method '{}': step '{}' given twice", text, t);
      *flag = true;
    }
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return m;
}

std::string to_string(const Method& m) {
  std::string out;
  auto add = [&](bool on, const char* s) {
    if (!on) return;
    if (!out.empty()) out += '+';
    out += s;
  };
  const bool full = m.gptq && m.lsq && m.adam && !m.norm_scale;  // "full+norm" is written as steps
  add(full, "full");
  add(m.gptq && !full, "gptq");
  add(m.lsq && !full, "lsq");
  add(m.adam && !full, "adam");
  add(m.e2e, "e2e");
  add(m.norm_scale, "norm");
  return out.empty() ? "datafree" : out;
}

}  // namespace tq
