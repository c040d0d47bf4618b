// Jinja template evaluation with Python semantics for the values chat templates use.
//
// Filters: trim, upper, lower, title, capitalize, length/count, tojson(indent), items, list,
// string, first, last, join, default/d, replace, selectattr/rejectattr/select/reject (with a
// test), map(attribute=/filter), unique, reverse, sort(attribute=), dictsort, int, float, abs,
// round, sum, min, max, indent, safe, wordcount.
// Globals: namespace(), range(), raise_exception(), dict(). Tests, methods and the Python helpers
// are in jinja_builtins.cc.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "io/jinja_ast.h"
#include "io/jinja_builtins.h"

namespace tq::jinja {
namespace {

using namespace builtins;

struct BreakSignal {};
struct ContinueSignal {};

class Renderer {
 public:
  Renderer(const Value& ctx, std::string& out) : out_(out) {
    scopes_.emplace_back();
    auto& g = scopes_.back();
    g["namespace"] = Value::function([](CallArgs& a) {
      Value ns = Value::dict();
      ns.as_dict().is_namespace = true;
      if (!a.args.empty() && a.args[0].is_dict())
        for (const auto& [k, v] : a.args[0].as_dict().items) ns.as_dict().set(k, v);
      for (auto& [k, v] : a.kwargs) ns.as_dict().set(k, v);
      return ns;
    });
    g["dict"] = Value::function([](CallArgs& a) {
      Value d = Value::dict();
      for (auto& [k, v] : a.kwargs) d.as_dict().set(k, v);
      return d;
    });
    g["range"] = Value::function([](CallArgs& a) {
      int64_t start = 0, stop = 0, step = 1;
      if (a.args.size() == 1) {
        stop = a.args[0].as_int();
      } else if (a.args.size() >= 2) {
        start = a.args[0].as_int();
        stop = a.args[1].as_int();
        if (a.args.size() > 2) step = a.args[2].as_int();
      }
      if (step == 0) throw Error(0, "range() step must not be zero");
      Value::List out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
      return Value::list(std::move(out));
    });
    g["raise_exception"] = Value::function(
        [](CallArgs& a) -> Value { throw Error(0, "the template raised: " + arg(a, 0).str()); });
    if (ctx.is_dict())
      for (const auto& [k, v] : ctx.as_dict().items) g[k] = v;
  }

  void render(const Body& body) {
    for (const auto& n : body) exec(*n);
  }

 private:
  // ---- statements ----
  void exec(const Node& n) {
    switch (n.kind) {
      case Node::kText:
        out_ += n.text;
        return;
      case Node::kOutput:
        out_ += eval(*n.expr).str();
        return;
      case Node::kIf:
        for (const auto& [cond, body] : n.branches)
          if (!cond || eval(*cond).truthy()) {
            render(body);
            return;
          }
        return;
      case Node::kFor:
        exec_for(n);
        return;
      case Node::kSet: {
        Value v = eval(*n.expr);
        if (!n.attr.empty()) {
          Value ns = lookup(n.targets[0]);
          if (!ns.is_dict() || !ns.as_dict().is_namespace)
            fail(n.line, fmt::format("'{}' is not a namespace(): cannot set '{}.{}'", n.targets[0],
                                     n.targets[0], n.attr));
          ns.as_dict().set(n.attr, std::move(v));
        } else if (n.targets.size() == 1) {
          scopes_.back()[n.targets[0]] = std::move(v);
        } else {
          assign_tuple(n.targets, v, n.line);
        }
        return;
      }
      case Node::kBreak:
        if (loop_depth_ == 0) fail(n.line, "'break' outside a loop");
        throw BreakSignal{};
      case Node::kContinue:
        if (loop_depth_ == 0) fail(n.line, "'continue' outside a loop");
        throw ContinueSignal{};
      case Node::kRoot:
        render(n.body);
        return;
    }
  }

  void assign_tuple(const std::vector<std::string>& targets, const Value& v, int line) {
    const Value::List items = iterate(v, line);
    if (items.size() != targets.size())
      fail(line,
           fmt::format("cannot unpack {} values into {} names", items.size(), targets.size()));
    for (size_t i = 0; i < targets.size(); ++i) scopes_.back()[targets[i]] = items[i];
  }

  void exec_for(const Node& n) {
    const Value seq = eval(*n.expr);
    Value::List items = iterate(seq, n.line);
    if (n.filter) {  // "for x in xs if cond": the filter sees the loop variables
      Value::List kept;
      for (const Value& it : items) {
        scopes_.emplace_back();
        bind_targets(n, it);
        if (eval(*n.filter).truthy()) kept.push_back(it);
        scopes_.pop_back();
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      render(n.else_body);
      return;
    }
    const int64_t len = static_cast<int64_t>(items.size());
    ++loop_depth_;
    for (int64_t i = 0; i < len; ++i) {
      scopes_.emplace_back();
      bind_targets(n, items[i]);
      Value loop = Value::dict();
      auto& d = loop.as_dict();
      d.set("index", Value(i + 1));
      d.set("index0", Value(i));
      d.set("revindex", Value(len - i));
      d.set("revindex0", Value(len - i - 1));
      d.set("first", Value(i == 0));
      d.set("last", Value(i == len - 1));
      d.set("length", Value(len));
      d.set("previtem", i > 0 ? items[i - 1] : Value());
      d.set("nextitem", i + 1 < len ? items[i + 1] : Value());
      scopes_.back()["loop"] = loop;
      bool stop = false;
      try {
        render(n.body);
      } catch (const BreakSignal&) {
        stop = true;
      } catch (const ContinueSignal&) {
      }
      scopes_.pop_back();
      if (stop) break;
    }
    --loop_depth_;
  }

  void bind_targets(const Node& n, const Value& item) {
    if (n.targets.size() == 1)
      scopes_.back()[n.targets[0]] = item;
    else
      assign_tuple(n.targets, item, n.line);
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value();
  }

  // ---- expressions ----
  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::kLiteral:
        return e.value;
      case Expr::kName:
        return lookup(e.name);
      case Expr::kList:
      case Expr::kTuple: {
        Value::List items;
        for (const auto& x : e.items) items.push_back(eval(*x));
        return Value::list(std::move(items));
      }
      case Expr::kDict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
          const Value k = eval(*e.items[i]);
          if (!k.is_string()) fail(e.line, "dict keys must be strings");
          d.as_dict().set(k.as_string(), eval(*e.items[i + 1]));
        }
        return d;
      }
      case Expr::kAttr:
        return attribute(eval(*e.a), e.name, e.line);
      case Expr::kIndex:
        return subscript(eval(*e.a), eval(*e.b), e.line);
      case Expr::kSlice:
        return slice(e);
      case Expr::kCall:
        return call(e);
      case Expr::kFilter: {
        CallArgs a = args_of(e);
        return filter(e.name, eval(*e.a), a, e.line);
      }
      case Expr::kTest: {
        CallArgs a = args_of(e);
        const bool r = test(e.name, eval(*e.a), a, e.line);
        return Value(e.negated ? !r : r);
      }
      case Expr::kUnary: {
        const Value v = eval(*e.a);
        if (e.name == "not") return Value(!v.truthy());
        if (v.kind() == Value::Kind::kInt) return Value(e.name == "-" ? -v.as_int() : v.as_int());
        if (v.kind() == Value::Kind::kFloat)
          return Value(e.name == "-" ? -v.as_double() : v.as_double());
        fail(e.line, fmt::format("bad operand for unary {}: {}", e.name, kind_name(v)));
      }
      case Expr::kAnd: {
        Value a = eval(*e.a);
        return a.truthy() ? eval(*e.b) : a;
      }
      case Expr::kOr: {
        Value a = eval(*e.a);
        return a.truthy() ? a : eval(*e.b);
      }
      case Expr::kCond:
        if (eval(*e.b).truthy()) return eval(*e.a);
        return e.c ? eval(*e.c) : Value();
      case Expr::kBinary:
        return binary(e.name, eval(*e.a), eval(*e.b), e.line);
    }
    return Value();
  }

  CallArgs args_of(const Expr& e) {
    CallArgs a;
    for (const auto& x : e.items) a.args.push_back(eval(*x));
    for (const auto& [k, x] : e.kwargs) a.kwargs.emplace_back(k, eval(*x));
    return a;
  }

  Value subscript(const Value& obj, const Value& key, int line) {
    if (obj.is_undefined())
      fail(line, fmt::format("cannot index an undefined value with {}", key.str()));
    if (obj.is_dict()) {
      if (!key.is_string()) return Value();
      const Value* v = obj.as_dict().find(key.as_string());
      return v ? *v : Value();
    }
    if ((obj.is_list() || obj.is_string()) && key.kind() == Value::Kind::kInt) {
      const Value::List items = obj.is_list() ? obj.as_list() : iterate(obj, line);
      int64_t i = key.as_int();
      const int64_t n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      return i >= 0 && i < n ? items[i] : Value();
    }
    return Value();
  }

  Value slice(const Expr& e) {
    const Value obj = eval(*e.a);
    if (!obj.is_list() && !obj.is_string())
      fail(e.line, fmt::format("cannot slice a {}", kind_name(obj)));
    const Value::List items = obj.is_list() ? obj.as_list() : iterate(obj, e.line);
    const int64_t n = static_cast<int64_t>(items.size());
    auto bound = [&](int i) -> std::pair<bool, int64_t> {
      if (!e.items[i]) return {false, 0};
      const Value v = eval(*e.items[i]);
      if (v.is_none()) return {false, 0};
      if (v.kind() != Value::Kind::kInt) fail(e.line, "slice bounds must be integers");
      return {true, v.as_int()};
    };
    const auto [has_step, step_v] = bound(2);
    const int64_t step = has_step ? step_v : 1;
    if (step == 0) fail(e.line, "slice step cannot be zero");
    auto clamp = [&](std::pair<bool, int64_t> b, int64_t dflt) {
      if (!b.first) return dflt;
      int64_t i = b.second < 0 ? b.second + n : b.second;
      return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t start = clamp(bound(0), step > 0 ? 0 : n - 1);
    const int64_t stop = clamp(bound(1), step > 0 ? n : -1);
    Value::List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(items[i]);
    if (obj.is_list()) return Value::list(std::move(out));
    std::string s;
    for (const Value& c : out) s += c.as_string();
    return Value(std::move(s));
  }

  Value call(const Expr& e) {
    CallArgs a = args_of(e);
    try {
      if (e.a->kind == Expr::kAttr) {
        const Value obj = eval(*e.a->a);
        const Value m = attribute(obj, e.a->name, e.line);
        if (m.kind() != Value::Kind::kFunction)
          fail(e.line, fmt::format("'{}' is not callable on a {}", e.a->name, kind_name(obj)));
        return m.as_function()(a);
      }
      const Value f = eval(*e.a);
      if (f.kind() != Value::Kind::kFunction)
        fail(e.line, e.a->kind == Expr::kName
                         ? fmt::format("'{}' is not a function", e.a->name)
                         : std::string("calling a value that is not a function"));
      return f.as_function()(a);
    } catch (const Error& err) {
      if (err.line == 0) throw Error(e.line, err.what());
      throw;
    }
  }

  Value binary(const std::string& op, const Value& a, const Value& b, int line) {
    using K = Value::Kind;
    auto num_op = [&](auto f_int, auto f_float) -> Value {
      if (!a.is_number() && a.kind() != K::kBool) bad(op, a, b, line);
      if (!b.is_number() && b.kind() != K::kBool) bad(op, a, b, line);
      const bool ints = a.kind() != K::kFloat && b.kind() != K::kFloat;
      auto iv = [](const Value& v) {
        return v.kind() == K::kBool ? int64_t{v.as_bool()} : v.as_int();
      };
      auto fv = [](const Value& v) {
        return v.kind() == K::kBool ? double(v.as_bool()) : v.as_double();
      };
      return ints ? f_int(iv(a), iv(b)) : f_float(fv(a), fv(b));
    };
    if (op == "==") return Value(a == b);
    if (op == "!=") return Value(!(a == b));
    if (op == "<") return Value(compare_values(a, b, line) < 0);
    if (op == ">") return Value(compare_values(a, b, line) > 0);
    if (op == "<=") return Value(compare_values(a, b, line) <= 0);
    if (op == ">=") return Value(compare_values(a, b, line) >= 0);
    if (op == "in") return Value(contains(b, a, line));
    if (op == "not in") return Value(!contains(b, a, line));
    if (op == "~") return Value(a.str() + b.str());
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
      if (a.is_list() && b.is_list()) {
        Value::List r = a.as_list();
        r.insert(r.end(), b.as_list().begin(), b.as_list().end());
        return Value::list(std::move(r));
      }
      return num_op([](int64_t x, int64_t y) { return Value(x + y); },
                    [](double x, double y) { return Value(x + y); });
    }
    if (op == "-")
      return num_op([](int64_t x, int64_t y) { return Value(x - y); },
                    [](double x, double y) { return Value(x - y); });
    if (op == "*") {
      if ((a.is_string() || a.is_list()) && b.kind() == K::kInt) return repeat(a, b.as_int());
      if ((b.is_string() || b.is_list()) && a.kind() == K::kInt) return repeat(b, a.as_int());
      return num_op([](int64_t x, int64_t y) { return Value(x * y); },
                    [](double x, double y) { return Value(x * y); });
    }
    if (op == "/") {
      const Value r = num_op([](int64_t x, int64_t y) { return Value(double(x) / double(y)); },
                             [](double x, double y) { return Value(x / y); });
      if (b.as_double() == 0 && b.is_number()) fail(line, "division by zero");
      return r;
    }
    if (op == "//" || op == "%") {
      if (b.is_number() && b.as_double() == 0) fail(line, "division by zero");
      if (op == "//")
        return num_op(
            [](int64_t x, int64_t y) {
              return Value(x / y - ((x % y != 0) && ((x < 0) != (y < 0))));
            },
            [](double x, double y) { return Value(std::floor(x / y)); });
      return num_op(
          [](int64_t x, int64_t y) {
            int64_t m = x % y;
            return Value(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
          },
          [](double x, double y) {
            double m = std::fmod(x, y);
            return Value(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
          });
    }
    if (op == "**")
      return num_op(
          [](int64_t x, int64_t y) {
            return y >= 0
                       ? Value(static_cast<int64_t>(std::llround(std::pow(double(x), double(y)))))
                       : Value(std::pow(double(x), double(y)));
          },
          [](double x, double y) { return Value(std::pow(x, y)); });
    fail(line, fmt::format("unknown operator '{}'", op));
  }

  [[noreturn]] void bad(const std::string& op, const Value& a, const Value& b, int line) {
    fail(line, fmt::format("unsupported operand types for {}: {} and {}", op, kind_name(a),
                           kind_name(b)));
  }

  static Value repeat(const Value& v, int64_t n) {
    if (v.is_string()) {
      std::string r;
      for (int64_t i = 0; i < n; ++i) r += v.as_string();
      return Value(r);
    }
    Value::List r;
    for (int64_t i = 0; i < n; ++i) r.insert(r.end(), v.as_list().begin(), v.as_list().end());
    return Value::list(std::move(r));
  }

  Value filter(const std::string& name, const Value& v, CallArgs& a, int line) {
    using K = Value::Kind;
    auto need_string = [&]() -> const std::string& {
      if (!v.is_string())
        fail(line, fmt::format("filter '{}' needs a string, not {}", name, kind_name(v)));
      return v.as_string();
    };
    if (name == "trim") return Value(strip(need_string(), arg(a, 0, "chars"), true, true));
    if (name == "upper") return Value(case_map(v.str(), 1));
    if (name == "lower") return Value(case_map(v.str(), 0));
    if (name == "title") return Value(title(v.str()));
    if (name == "capitalize") {
      std::string r = case_map(v.str(), 0);
      if (!r.empty()) r[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r[0])));
      return Value(r);
    }
    if (name == "length" || name == "count") return Value(length_of(v, line));
    if (name == "wordcount") return Value(static_cast<int64_t>(split(v.str(), Value(), -1).size()));
    if (name == "tojson") {
      const Value ind = arg(a, 0, "indent");
      return Value(v.to_json(ind.kind() == K::kInt ? static_cast<int>(ind.as_int()) : -1));
    }
    if (name == "items") {
      if (!v.is_dict()) fail(line, "filter 'items' needs a dict");
      return make_items(v);
    }
    if (name == "list") return Value::list(iterate(v, line));
    if (name == "string") return Value(v.str());
    if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
      if (name == "safe") return v;
      std::string r;
      for (char c : v.str()) {
        switch (c) {
          case '&':
            r += "&amp;";
            break;
          case '<':
            r += "&lt;";
            break;
          case '>':
            r += "&gt;";
            break;
          case '"':
            r += "&#34;";
            break;
          case '\'':
            r += "&#39;";
            break;
          default:
            r += c;
        }
      }
      return Value(r);
    }
    if (name == "first" || name == "last") {
      const Value::List items = iterate(v, line);
      if (items.empty()) return Value();
      return name == "first" ? items.front() : items.back();
    }
    if (name == "join") {
      const std::string sep = a.args.empty() ? "" : a.args[0].str();
      const Value attr = arg(a, 1, "attribute");
      std::string r;
      bool first = true;
      for (const Value& x : iterate(v, line)) {
        if (!first) r += sep;
        r += (attr.is_string() ? attribute(x, attr.as_string(), line) : x).str();
        first = false;
      }
      return Value(r);
    }
    if (name == "default" || name == "d") {
      const bool boolean = arg(a, 1, "boolean").truthy();
      return (v.is_undefined() || (boolean && !v.truthy())) ? arg(a, 0, "default_value") : v;
    }
    if (name == "replace") {
      const Value c = arg(a, 2, "count");
      return Value(replace_all(v.str(), arg(a, 0).str(), arg(a, 1).str(),
                               c.kind() == K::kInt ? c.as_int() : -1));
    }
    if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
      const bool by_attr = name.size() > 6;
      const bool keep = name[0] == 's';
      Value::List out;
      for (const Value& x : iterate(v, line)) {
        const Value subject = by_attr ? attribute(x, arg(a, 0).str(), line) : x;
        const size_t ti = by_attr ? 1 : 0;
        bool r;
        if (a.args.size() <= ti) {
          r = subject.truthy();
        } else {
          CallArgs targs;
          targs.args.assign(a.args.begin() + static_cast<long>(ti) + 1, a.args.end());
          r = test(a.args[ti].str(), subject, targs, line);
        }
        if (r == keep) out.push_back(x);
      }
      return Value::list(std::move(out));
    }
    if (name == "map") {
      Value::List out;
      const Value* attr = kwarg(a, "attribute");
      for (const Value& x : iterate(v, line)) {
        if (attr) {
          Value r = attribute(x, attr->str(), line);
          if (r.is_undefined())
            if (const Value* d = kwarg(a, "default")) r = *d;
          out.push_back(r);
        } else {
          CallArgs fa;
          if (a.args.empty()) fail(line, "map() needs a filter name or attribute=");
          fa.args.assign(a.args.begin() + 1, a.args.end());
          out.push_back(filter(a.args[0].str(), x, fa, line));
        }
      }
      return Value::list(std::move(out));
    }
    if (name == "unique") {
      Value::List out;
      for (const Value& x : iterate(v, line))
        if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
      return Value::list(std::move(out));
    }
    if (name == "reverse") {
      if (v.is_string()) {
        auto cs = chars_of(v.as_string());
        std::string r;
        for (auto it = cs.rbegin(); it != cs.rend(); ++it) r += *it;
        return Value(r);
      }
      Value::List items = iterate(v, line);
      std::reverse(items.begin(), items.end());
      return Value::list(std::move(items));
    }
    if (name == "sort" || name == "dictsort") {
      Value::List items = name == "dictsort" ? make_items(v).as_list() : iterate(v, line);
      const Value attr = arg(a, 2, "attribute");
      const bool rev = arg(a, 0, "reverse").truthy() && name == "sort";
      auto key = [&](const Value& x) {
        if (name == "dictsort") return x.as_list()[0];
        return attr.is_string() ? attribute(x, attr.as_string(), line) : x;
      };
      std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        const int c = compare_values(key(x), key(y), line);
        return rev ? c > 0 : c < 0;
      });
      return Value::list(std::move(items));
    }
    if (name == "int") {
      if (v.is_number()) return Value(static_cast<int64_t>(v.as_double()));
      try {
        return Value(static_cast<int64_t>(std::stoll(v.str())));
      } catch (...) {
        return arg(a, 0, "default").is_undefined() ? Value(int64_t{0}) : arg(a, 0, "default");
      }
    }
    if (name == "float") {
      if (v.is_number()) return Value(v.as_double());
      try {
        return Value(std::stod(v.str()));
      } catch (...) {
        return Value(0.0);
      }
    }
    if (name == "abs") {
      if (v.kind() == K::kInt) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      if (v.kind() == K::kFloat) return Value(std::fabs(v.as_double()));
      fail(line, "filter 'abs' needs a number");
    }
    if (name == "round") {
      const Value p = arg(a, 0, "precision");
      const double scale = std::pow(10.0, p.kind() == K::kInt ? double(p.as_int()) : 0.0);
      return Value(std::nearbyint(v.as_double() * scale) / scale);
    }
    if (name == "sum") {
      Value acc(int64_t{0});
      for (const Value& x : iterate(v, line)) acc = binary("+", acc, x, line);
      return acc;
    }
    if (name == "min" || name == "max") {
      const Value::List items = iterate(v, line);
      if (items.empty()) return Value();
      Value best = items[0];
      for (const Value& x : items) {
        const int c = compare_values(x, best, line);
        if (name == "min" ? c < 0 : c > 0) best = x;
      }
      return best;
    }
    if (name == "indent") {
      const Value w = arg(a, 0, "width");
      const std::string pad(w.kind() == K::kInt ? static_cast<size_t>(w.as_int()) : 4, ' ');
      const bool first = arg(a, 1, "first").truthy();
      std::string r = first ? pad : "";
      for (char c : v.str()) {
        r += c;
        if (c == '\n') r += pad;
      }
      return Value(r);
    }
    fail(line, fmt::format("unknown filter '{}'", name));
  }

  std::string& out_;
  std::vector<std::map<std::string, Value>> scopes_;
  int loop_depth_ = 0;
};

}  // namespace

void render_template(const Node& root, const Value& context, std::string& out) {
  Renderer r(context, out);
  r.render(root.body);
}

Result<Template> Template::parse(std::string_view source, const std::string& name) {
  Template t;
  t.name_ = name;
  try {
    t.root_ = parse_template(source);
  } catch (const Error& e) {
    return invalid_argument("{}:{}: {}", name, e.line, e.what());
  }
  return t;
}

Result<std::string> Template::render(const Value& context) const {
  std::string out;
  try {
    render_template(*root_, context, out);
  } catch (const Error& e) {
    return invalid_argument("{}:{}: {}", name_, e.line, e.what());
  }
  return out;
}

}  // namespace tq::jinja
