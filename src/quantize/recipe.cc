#include "quantize/recipe.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "formats/format.h"

namespace tq {
namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return s.substr(a, b - a);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

bool parse_int(const std::string& s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool glob_match(const char* p, const char* s) {
  if (*p == 0) return *s == 0;
  if (*p == '*') return glob_match(p + 1, s) || (*s && glob_match(p, s + 1));
  return *s && *p == *s && glob_match(p + 1, s + 1);
}

}  // namespace

Result<TensorSpec> parse_tensor_spec(const std::string& text) {
  const std::string t = trim(text);
  TensorSpec s;
  if (t == "q8") {
    s.kind = TensorSpec::Kind::kQ8;
    return s;
  }
  if (t == "rtn4") {
    s.kind = TensorSpec::Kind::kRtn4;
    return s;
  }
  if (t == "gptq4") {
    s.kind = TensorSpec::Kind::kGptq4;
    return s;
  }
  if (const size_t plus = t.find('+'); plus != std::string::npos && t.starts_with("tq")) {
    // tq<...>+h<K>: the hot rows of the embedding or an untied output head.
    const std::string hot = t.substr(plus + 1);
    int k = 0;
    if (!hot.starts_with("h") || !parse_int(hot.substr(1), &k) || k <= 0)
      return invalid_argument("'{}': expected tq<bits>[.5][g<group>]+h<rows>, e.g. tq3+h1024", t);
    TQ_ASSIGN_OR_RETURN(s, parse_tensor_spec(t.substr(0, plus)));
    s.hot_rows = k;
    return s;
  }
  if (t.size() >= 3 && t.starts_with("tq") && t[2] >= '0' && t[2] <= '9') {
    const size_t g = t.find('g');
    const std::string bits_s = t.substr(2, g == std::string::npos ? std::string::npos : g - 2);
    int bits = 0, group = kDefaultTqGroup;
    const bool half = bits_s.ends_with(".5");
    if (!parse_int(half ? bits_s.substr(0, bits_s.size() - 2) : bits_s, &bits))
      return invalid_argument("'{}': expected tq<bits>[.5][g<group>], e.g. tq4, tq3.5 or tq3g64", t);
    if (g != std::string::npos && !parse_int(t.substr(g + 1), &group))
      return invalid_argument("'{}': the group size after 'g' must be a number", t);
    if (!(bits >= 2 && bits <= 6) && bits != 8)
      return invalid_argument("'{}': TurboQuant widths are 2, 3, 4, 5, 6 or 8 bits", t);
    if (half && bits > 5)
      return invalid_argument("'{}': fractional widths are 2.5, 3.5, 4.5 and 5.5 bits", t);
    if (group != 32 && group != 64 && group != 128)
      return invalid_argument("'{}': the group size must be 32, 64 or 128", t);
    s.kind = TensorSpec::Kind::kTq;
    s.bits = bits;
    s.half = half;
    s.group = group;
    return s;
  }
  if (t.empty()) return invalid_argument("empty tensor format");
  const FormatTraits* f = find_format(t);
  if (!f)
    return invalid_argument(
        "unknown tensor format '{}' (tq2..tq8[g32|g64|g128], q8, rtn4, gptq4, or a format name "
        "such as bf16, f16, q8_0)",
        t);
  if (!f->from_float) return invalid_argument("format '{}' has no quantizer", t);
  s.kind = TensorSpec::Kind::kFormat;
  s.format = t;
  return s;
}

bool recipe_needs_calibration(const Recipe& r) {
  auto needs = [](const TensorSpec& s) {
    return s.kind == TensorSpec::Kind::kGptq4 || s.hot_rows > 0;
  };
  if (r.target_bpw || (r.base && needs(*r.base))) return true;
  for (const auto& o : r.overrides)
    if (needs(o.spec)) return true;
  return false;
}

TensorSpec tq_spec_of_width(double width, int group) {
  TensorSpec s;
  s.kind = TensorSpec::Kind::kTq;
  s.bits = static_cast<int>(std::floor(width));
  s.half = width - s.bits >= 0.25;
  s.group = group;
  return s;
}

std::string to_string(const TensorSpec& s) {
  switch (s.kind) {
    case TensorSpec::Kind::kTq: {
      const std::string b = fmt::format("tq{}{}", s.bits, s.half ? ".5" : "");
      const std::string hot = s.hot_rows > 0 ? fmt::format("+h{}", s.hot_rows) : "";
      return (s.group == kDefaultTqGroup ? b : fmt::format("{}g{}", b, s.group)) + hot;
    }
    case TensorSpec::Kind::kQ8:
      return "q8";
    case TensorSpec::Kind::kRtn4:
      return "rtn4";
    case TensorSpec::Kind::kGptq4:
      return "gptq4";
    case TensorSpec::Kind::kFormat:
      return s.format;
  }
  return "?";
}

Result<Recipe> parse_recipe(const std::string& text) {
  Recipe r;
  const std::vector<std::string> items = split(text, ';');
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item = trim(items[i]);
    if (item.empty()) return invalid_argument("recipe '{}': item {} is empty", text, i + 1);
    const size_t eq = item.find('=');
    if (i == 0) {
      if (eq != std::string::npos && trim(item.substr(0, eq)) == "bpw") {
        const std::string v = trim(item.substr(eq + 1));
        double b = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), b);
        if (ec != std::errc() || p != v.data() + v.size() || !(b >= 1.0 && b <= 16.0))
          return invalid_argument("recipe '{}': bpw must be a number in [1, 16], got '{}'", text, v);
        r.target_bpw = b;
        continue;
      }
      if (eq != std::string::npos)
        return invalid_argument(
            "recipe '{}': the first item is the default format (e.g. tq4) or bpw=B, not an "
            "override",
            text);
      auto s = parse_tensor_spec(item);
      if (!s.ok()) return s.status().with_context(fmt::format("recipe '{}'", text));
      r.base = *s;
      continue;
    }
    if (eq == std::string::npos)
      return invalid_argument("recipe '{}': '{}' should be pattern=format (e.g. attn_v=tq5)", text,
                              item);
    TensorOverride o;
    o.pattern = trim(item.substr(0, eq));
    if (o.pattern.empty() || o.pattern == "bpw")
      return invalid_argument("recipe '{}': '{}' needs a tensor pattern before '='", text, item);
    auto s = parse_tensor_spec(item.substr(eq + 1));
    if (!s.ok()) return s.status().with_context(fmt::format("recipe '{}'", text));
    o.spec = *s;
    r.overrides.push_back(std::move(o));
  }
  return r;
}

std::string to_string(const Recipe& r) {
  std::string out = r.target_bpw ? fmt::format("bpw={}", *r.target_bpw)
                                 : (r.base ? to_string(*r.base) : std::string("?"));
  for (const auto& o : r.overrides) out += fmt::format(";{}={}", o.pattern, to_string(o.spec));
  return out;
}

bool pattern_matches(const std::string& pattern, const std::string& name_in) {
  std::string name = name_in;
  if (name.ends_with(".weight")) name.resize(name.size() - 7);
  if (pattern.find('*') != std::string::npos) return glob_match(pattern.c_str(), name.c_str());
  if (name == pattern) return true;
  return name.size() > pattern.size() && name.ends_with(pattern) &&
         name[name.size() - pattern.size() - 1] == '.';
}

TensorSpec implicit_embedding_spec(const TensorSpec& head) {
  if (head.kind != TensorSpec::Kind::kTq) return head;
  TensorSpec e = head;
  if (head.half && head.bits + 2 <= 5) {
    e.bits = head.bits + 2;
  } else {
    const int b = head.bits + 2 + (head.half ? 1 : 0);
    e.bits = b > 6 ? 8 : b;
    e.half = false;
  }
  return e;
}

std::optional<TensorSpec> spec_for(const Recipe& r, const std::string& name, bool is_embedding) {
  for (auto it = r.overrides.rbegin(); it != r.overrides.rend(); ++it)
    if (pattern_matches(it->pattern, name)) return it->spec;
  if (!r.base) return std::nullopt;
  return is_embedding ? implicit_embedding_spec(*r.base) : *r.base;
}

}  // namespace tq
