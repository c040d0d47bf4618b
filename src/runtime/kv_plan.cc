#include "runtime/kv_plan.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "core/check.h"

namespace tq {
namespace {

std::string known_types() {
  std::string s;
  for (const auto& f : kv_formats()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

Status check_type(const std::string& t, std::string_view where) {
  if (t.empty() || find_kv_format(t)) return ok_status();
  return invalid_argument("unknown KV cache type '{}' in '{}' (known: {})", t, where, known_types());
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t a = 0;
  while (true) {
    const size_t b = s.find(sep, a);
    out.push_back(s.substr(a, b == std::string_view::npos ? std::string_view::npos : b - a));
    if (b == std::string_view::npos) break;
    a = b + 1;
  }
  return out;
}

Result<int64_t> parse_int(std::string_view s, std::string_view where) {
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
    return invalid_argument("bad layer number '{}' in KV plan item '{}'", s, where);
  return v;
}

// "K/V" or "T" → (k, v); an override may leave either empty.
Result<std::pair<std::string, std::string>> parse_types(std::string_view s, bool allow_empty,
                                                        std::string_view where) {
  std::string k, v;
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) {
    k = v = std::string(s);
  } else {
    k = std::string(s.substr(0, slash));
    v = std::string(s.substr(slash + 1));
    if (v.find('/') != std::string::npos)
      return invalid_argument("KV types '{}' in '{}': expected TYPE or KEY/VALUE", s, where);
  }
  if (!allow_empty && (k.empty() || v.empty()))
    return invalid_argument("KV types '{}' in '{}': a type is missing", s, where);
  if (k.empty() && v.empty())
    return invalid_argument("KV plan item '{}' sets no type", where);
  TQ_RETURN_IF_ERROR(check_type(k, where));
  TQ_RETURN_IF_ERROR(check_type(v, where));
  return std::make_pair(k, v);
}

Result<KvPlanItem> parse_item(std::string_view s) {
  const size_t eq = s.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return invalid_argument("KV layer override '{}': expected LAYERS=TYPE or LAYERS=KEY/VALUE "
                            "(e.g. 0,-1=q8 or 2-3=tq4/tq3)",
                            s);
  KvPlanItem it;
  for (std::string_view r : split(s.substr(0, eq), ',')) {
    const size_t dash = r.find('-', 1);  // a leading '-' is a sign
    if (dash == std::string_view::npos) {
      TQ_ASSIGN_OR_RETURN(int64_t l, parse_int(r, s));
      it.ranges.emplace_back(l, l);
    } else {
      TQ_ASSIGN_OR_RETURN(int64_t a, parse_int(r.substr(0, dash), s));
      TQ_ASSIGN_OR_RETURN(int64_t b, parse_int(r.substr(dash + 1), s));
      if (a < 0 || b < a)
        return invalid_argument("KV layer range '{}' in '{}': need 0 <= first <= last", r, s);
      it.ranges.emplace_back(a, b);
    }
  }
  TQ_ASSIGN_OR_RETURN(auto kv, parse_types(s.substr(eq + 1), true, s));
  it.k_type = kv.first;
  it.v_type = kv.second;
  return it;
}

std::string format_types(const std::string& k, const std::string& v) {
  return k == v ? k : k + "/" + v;
}

}  // namespace

Result<std::vector<KvPlanItem>> parse_kv_layers(std::string_view s) {
  std::vector<KvPlanItem> items;
  if (s.empty()) return items;
  for (std::string_view part : split(s, ';')) {
    if (part.empty()) return invalid_argument("empty item in KV layer overrides '{}'", s);
    TQ_ASSIGN_OR_RETURN(KvPlanItem it, parse_item(part));
    items.push_back(std::move(it));
  }
  return items;
}

Result<KvPlan> parse_kv_plan(std::string_view s) {
  if (s.empty()) return invalid_argument("empty KV plan");
  const size_t semi = s.find(';');
  const std::string_view head = s.substr(0, semi);
  KvPlan p;
  TQ_ASSIGN_OR_RETURN(auto kv, parse_types(head, false, s));
  p.k_type = kv.first;
  p.v_type = kv.second;
  if (semi != std::string_view::npos) {
    TQ_ASSIGN_OR_RETURN(p.items, parse_kv_layers(s.substr(semi + 1)));
    if (p.items.empty()) return invalid_argument("KV plan '{}' ends with ';'", s);
  }
  return p;
}

std::string format_kv_plan(const KvPlan& p) {
  std::string s = format_types(p.k_type, p.v_type);
  for (const KvPlanItem& it : p.items) {
    s += ';';
    for (size_t i = 0; i < it.ranges.size(); ++i) {
      if (i) s += ',';
      const auto [a, b] = it.ranges[i];
      s += a == b ? std::to_string(a) : fmt::format("{}-{}", a, b);
    }
    s += '=';
    s += it.k_type == it.v_type ? it.k_type : it.k_type + "/" + it.v_type;
  }
  return s;
}

void apply_kv_plan(const KvPlan& p, KvCacheConfig* cfg) {
  cfg->k_type = p.k_type;
  cfg->v_type = p.v_type;
  cfg->overrides.clear();
  for (const KvPlanItem& it : p.items)
    for (const auto& [a, b] : it.ranges)
      for (int64_t l = a; l <= b; ++l) cfg->overrides.push_back({l, it.k_type, it.v_type});
}

Result<int64_t> parse_byte_size(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                          s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-')) {
    // stop at a unit letter ('e' only counts as an exponent when followed by a digit or sign)
    if ((s[i] == 'e' || s[i] == 'E') &&
        !(i + 1 < s.size() && (std::isdigit(static_cast<unsigned char>(s[i + 1])) ||
                               s[i + 1] == '+' || s[i + 1] == '-')))
      break;
    ++i;
  }
  const std::string num(s.substr(0, i));
  std::string unit(s.substr(i));
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (num.empty())
    return invalid_argument("memory budget '{}': expected a number with an optional unit, e.g. "
                            "8GiB, 512MiB, 1.5GB",
                            s);
  char* end = nullptr;
  const double v = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || !std::isfinite(v))
    return invalid_argument("memory budget '{}': '{}' is not a number", s, num);
  double mul = 0;
  struct U {
    const char* name;
    double mul;
  };
  static const U units[] = {{"", 1},        {"b", 1},         {"k", 1e3},        {"kb", 1e3},
                            {"m", 1e6},     {"mb", 1e6},      {"g", 1e9},        {"gb", 1e9},
                            {"t", 1e12},    {"tb", 1e12},     {"kib", 1024.0},   {"mib", 1048576.0},
                            {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  for (const U& u : units)
    if (unit == u.name) mul = u.mul;
  if (mul == 0)
    return invalid_argument("memory budget '{}': unknown unit '{}' (use B, kB, MB, GB, TB, KiB, "
                            "MiB, GiB or TiB)",
                            s, s.substr(i));
  const double bytes = v * mul;
  if (!(bytes >= 1.0))
    return invalid_argument("memory budget '{}' must be at least 1 byte", s);
  if (bytes > 9.0e18) return invalid_argument("memory budget '{}' is too large", s);
  return static_cast<int64_t>(bytes);
}

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string format_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.2f} {}", b, units[u]);
}

int64_t kv_max_context(const KvCache& kv, int64_t budget_bytes) {
  const double per = kv.bytes_per_token();
  return per > 0 ? static_cast<int64_t>(std::floor(static_cast<double>(budget_bytes) / per)) : 0;
}

std::vector<std::string> kv_auto_ladder(bool calibrated) {
  if (calibrated) return {"f16", "q8", "tqw4.5", "tqw4", "tqw3.5", "tqw3", "tqw2.5", "tq2"};
  return {"f16", "q8", "tq4.5", "tq4", "tq3.5", "tq3", "tq2.5", "tq2"};
}

Result<std::string> choose_kv_type(const std::vector<std::string>& ladder, int64_t n_layers,
                                   int64_t n_kv_heads, int64_t head_dim, int64_t n_ctx,
                                   int64_t budget_bytes) {
  if (ladder.empty() || n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || n_ctx <= 0)
    return invalid_argument("KV auto: bad cache shape ({} layers, {} KV heads, head_dim {}, {} positions)",
                            n_layers, n_kv_heads, head_dim, n_ctx);
  double per_token = 0;  // of the last type tried
  double first = 0;
  for (const std::string& t : ladder) {
    const KvFormat* f = find_kv_format(t);
    TQ_CHECK(f != nullptr, "KV auto ladder type '{}' is not in the KV format table", t);
    per_token = 2.0 * static_cast<double>(n_layers) * f->bytes_per_token(n_kv_heads, head_dim);
    if (first == 0) first = per_token;
    if (per_token * static_cast<double>(n_ctx) <= static_cast<double>(budget_bytes)) return t;
  }
  return out_of_range(
      "KV auto: no KV type fits {} positions in {} ({} needs {}; the smallest, {}, holds {} "
      "positions): raise --kv-budget or lower --ctx",
      with_commas(n_ctx), format_bytes(static_cast<double>(budget_bytes)), ladder.front(),
      format_bytes(first * static_cast<double>(n_ctx)), ladder.back(),
      with_commas(static_cast<int64_t>(std::floor(static_cast<double>(budget_bytes) / per_token))));
}

std::string kv_memory_summary(const KvCache& kv, int64_t budget_bytes) {
  const KvCacheShape& s = kv.shape();
  const double elems = static_cast<double>(2 * s.n_layers * s.n_kv_heads * s.head_dim);
  const double per = kv.bytes_per_token();
  return fmt::format(
      "KV {}: {} B/token ({:.3f} bits/element incl. scales, {:.2f}x smaller than f16); {} holds "
      "{} tokens",
      kv.describe(), with_commas(static_cast<int64_t>(std::llround(per))), per * 8.0 / elems,
      elems * 2.0 / per, format_bytes(static_cast<double>(budget_bytes)),
      with_commas(kv_max_context(kv, budget_bytes)));
}

}  // namespace tq
