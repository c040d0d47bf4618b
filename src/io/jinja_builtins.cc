// Python semantics for the Jinja evaluator (jinja_eval.cc): string helpers, comparisons,
// iteration, attribute lookup with the str/dict methods chat templates call, and the tests.
//
// Tests: defined, undefined, none, string, number, integer, float, boolean, true, false,
// mapping, iterable, sequence, callable, equalto/eq/==, ne/!=, gt/lt/ge/le, in, sameas, even,
// odd, divisibleby, lower, upper.
// String methods: strip/lstrip/rstrip, split/rsplit, startswith/endswith, upper/lower/title/
// capitalize, replace, find, count, join, isdigit/isalpha/isspace. Dict: items/keys/values/get.
#include "io/jinja_builtins.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/tokenizer_text.h"

namespace tq::jinja::builtins {

[[noreturn]] void fail(int line, const std::string& what) {
  throw Error(line, what);
}

const char* kind_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "undefined";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kFunction:
      return "function";
  }
  return "?";
}

// Code points of a UTF-8 string (Python indexes strings by character).
std::vector<std::string> chars_of(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const int n = std::max(1, tok::utf8_valid_len(s, i));
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool is_py_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto strip_it = [&](char c) {
    return chars.is_string() ? chars.as_string().find(c) != std::string::npos : is_py_space(c);
  };
  size_t b = 0, e = s.size();
  if (left)
    while (b < e && strip_it(s[b])) ++b;
  if (right)
    while (e > b && strip_it(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string& s, const Value& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep.is_string() || sep.as_string().empty()) {  // whitespace runs; no empty pieces
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_py_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        out.push_back(strip(s.substr(i), Value(), false, true));
        break;
      }
      size_t j = i;
      while (j < s.size() && !is_py_space(s[j])) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  const std::string& d = sep.as_string();
  size_t pos = 0;
  for (;;) {
    const size_t k = maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit
                         ? std::string::npos
                         : s.find(d, pos);
    if (k == std::string::npos) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, k - pos));
    pos = k + d.size();
  }
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        int64_t count) {
  if (from.empty()) return s;
  std::string r;
  size_t pos = 0;
  for (size_t k; count != 0 && (k = s.find(from, pos)) != std::string::npos; --count) {
    r.append(s, pos, k - pos);
    r += to;
    pos = k + from.size();
  }
  return r + s.substr(pos);
}

std::string case_map(const std::string& s, int mode /*0 lower, 1 upper*/) {
  std::string out;
  if (mode == 0 ? tok::lowercase_unicode(s, &out) : false) return out;
  out = s;
  for (char& c : out)
    c = mode == 0 ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                  : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string title(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
      start = false;
    } else {
      start = !std::isalnum(u);
    }
  }
  return out;
}

int compare_values(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number())
    return a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double();
  if (a.is_string() && b.is_string())
    return a.as_string().compare(b.as_string()) < 0 ? -1 : a.as_string() != b.as_string();
  if (a.is_list() && b.is_list()) {
    const auto &x = a.as_list(), &y = b.as_list();
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
      if (int c = compare_values(x[i], y[i], line)) return c;
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  fail(line, fmt::format("cannot compare {} with {}", kind_name(a), kind_name(b)));
}

// The items a for loop or a filter walks: list elements, dict keys, string characters.
Value::List iterate(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      if (v.is_none()) fail(line, "cannot iterate over None");
      return {};
    case Value::Kind::kList:
      return v.as_list();
    case Value::Kind::kDict: {
      Value::List keys;
      for (const auto& [k, x] : v.as_dict().items) keys.emplace_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      Value::List out;
      for (auto& c : chars_of(v.as_string())) out.emplace_back(std::move(c));
      return out;
    }
    default:
      fail(line, fmt::format("cannot iterate over a {}", kind_name(v)));
  }
}

int64_t length_of(const Value& v, int line) {
  if (v.is_string()) return static_cast<int64_t>(chars_of(v.as_string()).size());
  if (v.is_list()) return static_cast<int64_t>(v.as_list().size());
  if (v.is_dict()) return static_cast<int64_t>(v.as_dict().items.size());
  if (v.is_undefined()) return 0;
  fail(line, fmt::format("a {} has no length", kind_name(v)));
}

Value make_items(const Value& d) {
  Value::List out;
  for (const auto& [k, x] : d.as_dict().items) out.push_back(Value::list({Value(k), x}));
  return Value::list(std::move(out));
}

const Value* kwarg(const CallArgs& a, const char* name) {
  for (const auto& [k, v] : a.kwargs)
    if (k == name) return &v;
  return nullptr;
}
// Positional argument i, else keyword `name`, else undefined.
Value arg(const CallArgs& a, size_t i, const char* name) {
  if (i < a.args.size()) return a.args[i];
  if (*name)
    if (const Value* v = kwarg(a, name)) return *v;
  return Value();
}

bool contains(const Value& container, const Value& item, int line) {
  if (container.is_string()) {
    if (!item.is_string())
      fail(line, fmt::format("'in <string>' needs a string on the left, not {}", kind_name(item)));
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_list())
    return std::find(container.as_list().begin(), container.as_list().end(), item) !=
           container.as_list().end();
  if (container.is_dict()) return item.is_string() && container.as_dict().find(item.as_string());
  if (!container.is_undefined())
    fail(line, fmt::format("'in' needs a string, list or dict on the right, not {}",
                           kind_name(container)));
  return false;
}

Value bound_method(const Value& obj, const std::string& name, int line) {
  if (obj.is_dict()) {
    return Value::function([obj, name, line](CallArgs& a) -> Value {
      if (name == "items") return make_items(obj);
      Value::List out;
      if (name == "get") {
        const Value* v = a.args.empty() || !a.args[0].is_string()
                             ? nullptr
                             : obj.as_dict().find(a.args[0].as_string());
        return v ? *v : (a.args.size() > 1 ? a.args[1] : Value::none());
      }
      for (const auto& [k, v] : obj.as_dict().items) out.push_back(name == "keys" ? Value(k) : v);
      return Value::list(std::move(out));
    });
  }
  static const char* const kStringMethods[] = {
      "strip",    "lstrip", "rstrip", "split",   "rsplit",     "startswith",
      "endswith", "upper",  "lower",  "title",   "capitalize", "replace",
      "find",     "count",  "join",   "isdigit", "isalpha",    "isspace"};
  if (std::find_if(std::begin(kStringMethods), std::end(kStringMethods),
                   [&](const char* m) { return name == m; }) == std::end(kStringMethods))
    return Value();
  const std::string s = obj.as_string();
  return Value::function([s, name, line](CallArgs& a) -> Value {
    if (name == "strip") return Value(strip(s, arg(a, 0), true, true));
    if (name == "lstrip") return Value(strip(s, arg(a, 0), true, false));
    if (name == "rstrip") return Value(strip(s, arg(a, 0), false, true));
    if (name == "split" || name == "rsplit") {
      const Value ms = arg(a, 1, "maxsplit");
      const int64_t maxsplit = ms.kind() == Value::Kind::kInt ? ms.as_int() : -1;
      if (name == "rsplit" && maxsplit >= 0)
        throw Error(line, "rsplit with maxsplit is not supported");
      Value::List out;
      for (auto& p : split(s, arg(a, 0, "sep"), maxsplit)) out.emplace_back(std::move(p));
      return Value::list(std::move(out));
    }
    if (name == "startswith" || name == "endswith") {
      const Value p = arg(a, 0);
      Value::List prefixes = p.is_list() ? p.as_list() : Value::List{p};
      for (const Value& x : prefixes) {
        if (!x.is_string()) throw Error(line, fmt::format("{}() takes a string", name));
        const std::string& t = x.as_string();
        const bool hit =
            name == "startswith"
                ? s.compare(0, t.size(), t) == 0
                : s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
        if (hit) return Value(true);
      }
      return Value(false);
    }
    if (name == "upper") return Value(case_map(s, 1));
    if (name == "lower") return Value(case_map(s, 0));
    if (name == "title") return Value(title(s));
    if (name == "capitalize") {
      std::string r = case_map(s, 0);
      if (!r.empty()) r[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r[0])));
      return Value(r);
    }
    if (name == "replace") {
      const Value c = arg(a, 2, "count");
      return Value(replace_all(s, arg(a, 0).str(), arg(a, 1).str(),
                               c.kind() == Value::Kind::kInt ? c.as_int() : -1));
    }
    if (name == "find") {
      const size_t k = s.find(arg(a, 0).str());
      return Value(k == std::string::npos ? int64_t{-1}
                                          : static_cast<int64_t>(chars_of(s.substr(0, k)).size()));
    }
    if (name == "count") {
      const std::string t = arg(a, 0).str();
      int64_t n = 0;
      for (size_t k = 0; !t.empty() && (k = s.find(t, k)) != std::string::npos; k += t.size()) ++n;
      return Value(n);
    }
    if (name == "join") {
      std::string r;
      bool first = true;
      for (const Value& x : iterate(arg(a, 0), line)) {
        if (!first) r += s;
        r += x.str();
        first = false;
      }
      return Value(r);
    }
    auto all_of = [&](auto pred) {
      return Value(!s.empty() && std::all_of(s.begin(), s.end(), [&](char c) {
        return pred(static_cast<unsigned char>(c));
      }));
    };
    if (name == "isdigit") return all_of([](unsigned char c) { return std::isdigit(c) != 0; });
    if (name == "isalpha") return all_of([](unsigned char c) { return std::isalpha(c) != 0; });
    return all_of([](unsigned char c) { return std::isspace(c) != 0; });
  });
}

Value attribute(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) fail(line, fmt::format("cannot read '.{}' of an undefined value", name));
  if (obj.is_dict()) {
    if (!obj.as_dict().is_namespace &&
        (name == "items" || name == "keys" || name == "values" || name == "get"))
      return bound_method(obj, name, line);
    const Value* v = obj.as_dict().find(name);
    return v ? *v : Value();
  }
  if (obj.is_string()) return bound_method(obj, name, line);
  return Value();
}

bool test(const std::string& name, const Value& v, const CallArgs& a, int line) {
  using K = Value::Kind;
  const Value x = arg(a, 0);
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind() == K::kInt;
  if (name == "float") return v.kind() == K::kFloat;
  if (name == "boolean") return v.kind() == K::kBool;
  if (name == "true") return v.kind() == K::kBool && v.as_bool();
  if (name == "false") return v.kind() == K::kBool && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_list() || v.is_dict() || v.is_string();
  if (name == "sequence") return v.is_list() || v.is_string() || v.is_dict();
  if (name == "callable") return v.kind() == K::kFunction;
  if (name == "equalto" || name == "eq" || name == "==") return v == x;
  if (name == "ne" || name == "!=") return !(v == x);
  if (name == "gt" || name == ">") return compare_values(v, x, line) > 0;
  if (name == "ge" || name == ">=") return compare_values(v, x, line) >= 0;
  if (name == "lt" || name == "<") return compare_values(v, x, line) < 0;
  if (name == "le" || name == "<=") return compare_values(v, x, line) <= 0;
  if (name == "in") return contains(x, v, line);
  if (name == "sameas") return v == x && v.kind() == x.kind();
  if (name == "even" || name == "odd" || name == "divisibleby") {
    if (v.kind() != K::kInt) fail(line, fmt::format("'{}' needs an integer", name));
    const int64_t d = name == "divisibleby" ? x.as_int() : 2;
    if (d == 0) fail(line, "divisibleby(0)");
    const bool div = v.as_int() % d == 0;
    return name == "odd" ? !div : div;
  }
  if (name == "lower" || name == "upper")
    return v.is_string() && v.as_string() == case_map(v.as_string(), name == "upper");
  fail(line, fmt::format("unknown test '{}'", name));
}

}  // namespace tq::jinja::builtins
