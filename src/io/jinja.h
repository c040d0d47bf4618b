// A Jinja2 subset for chat templates (tokenizer.chat_template): what the templates of SmolLM2,
// Llama 3.x, Qwen2/2.5/3, Gemma 2/3 and Mistral use, rendered as Hugging Face's
// apply_chat_template renders them (jinja2 with trim_blocks, lstrip_blocks and loop controls).
//
// Statements: if/elif/else, for (tuple targets, `if` filter, else, loop.index/index0/first/last/
// length/revindex/revindex0/previtem/nextitem), set (names, namespace attributes, tuples),
// break/continue, macro/call-free; comments; whitespace control ({%- -%}, {{- -}}).
// Expressions: literals, lists, dicts, attribute/subscript/slice, calls with keyword arguments,
// arithmetic, ~, comparisons, in / not in, and/or/not, conditional expressions, filters and tests
// (jinja_eval.cc lists them), Python string/dict methods (strip, split, startswith, items, get...),
// namespace(), range(), raise_exception(). Unsupported syntax is a parse error naming the line.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tq/status.h"

namespace tq::jinja {

class Value;
// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};
using Function = std::function<Value(CallArgs&)>;

// A Python-like value: undefined, None, bool, int, float, str, list, dict (insertion-ordered),
// or a callable. Lists and dicts are shared (copies alias, as Python references do).
class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };
  using List = std::vector<Value>;
  struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    bool is_namespace = false;  // namespace(): attributes may be assigned with `set ns.x = ...`
    const Value* find(std::string_view key) const;
    void set(const std::string& key, Value v);
  };

  Value() = default;  // undefined
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double d);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(List items = {});
  static Value dict();
  static Value function(Function f);
  static Value from_json(const nlohmann::ordered_json& j);  // keeps the key order

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_double() const { return kind_ == Kind::kInt ? static_cast<double>(i_) : d_; }
  const std::string& as_string() const { return *s_; }
  List& as_list() const { return *list_; }
  Dict& as_dict() const { return *dict_; }
  const Function& as_function() const { return *fn_; }

  bool truthy() const;
  // Python's str(): "None", "True", 1.5, "[1, 'a']", "{'k': 'v'}"; undefined prints as "".
  std::string str() const;
  // JSON as Hugging Face's tojson (json.dumps, ensure_ascii=False): indent < 0 gives one line with
  // ", " and ": " separators; otherwise newlines and `indent` spaces.
  std::string to_json(int indent = -1) const;
  // Python ==.
  friend bool operator==(const Value& a, const Value& b);

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

struct Node;

// A parsed template. Parse errors name `name` and the line: "chat template:12: expected 'endif'".
class Template {
 public:
  static Result<Template> parse(std::string_view source, const std::string& name = "template");
  // Renders with the variables of `context` (a dict). Errors (raise_exception, a type error such
  // as str + int, an undefined attribute of an undefined value, a loop over a number) are an
  // invalid_argument Status naming the template, the line and the problem.
  Result<std::string> render(const Value& context) const;

 private:
  std::string name_;
  std::shared_ptr<const Node> root_;
};

}  // namespace tq::jinja
