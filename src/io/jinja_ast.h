// The parsed form of a Jinja template (internal to jinja_parse.cc / jinja_eval.cc).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/jinja.h"

namespace tq::jinja {

// Thrown inside the parser and the evaluator; Template turns it into a Status.
struct Error : std::runtime_error {
  Error(int line, const std::string& what) : std::runtime_error(what), line(line) {}
  int line;
};

struct Expr;
using ExprP = std::unique_ptr<Expr>;

struct Expr {
  enum Kind {
    kLiteral,  // value
    kName,     // name
    kList,     // items
    kTuple,    // items
    kDict,     // items: key, value, key, value, ...
    kAttr,     // a.name
    kIndex,    // a[b]
    kSlice,    // a[items[0]:items[1]:items[2]] (null items are omitted bounds)
    kCall,     // a(items..., kwargs...)
    kFilter,   // a | name(items..., kwargs...)
    kTest,     // a is [not] name(items...)
    kUnary,    // name ("-", "+", "not") a
    kBinary,   // a name b ("+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ...)
    kAnd,      // a and b
    kOr,       // a or b
    kCond,     // a if b else c (c may be null: undefined)
  } kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprP> items;
  std::vector<std::pair<std::string, ExprP>> kwargs;
  ExprP a, b, c;
  bool negated = false;  // kTest: "is not"
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum Kind {
    kText,    // text
    kOutput,  // {{ expr }}
    kIf,      // branches: (condition, body)...; a null condition is the else branch
    kFor,     // for targets in expr [if filter]: body [else: else_body]
    kSet,     // set targets = expr; or set targets[0].attr = expr
    kBreak,
    kContinue,
    kRoot,  // body
  } kind;
  int line = 0;
  std::string text;
  ExprP expr, filter;
  std::vector<std::pair<ExprP, Body>> branches;
  std::vector<std::string> targets;
  std::string attr;
  Body body, else_body;
};

// Parses the whole template (jinja_parse.cc).
std::unique_ptr<Node> parse_template(std::string_view source);
// Renders `root` with `context`'s variables into `out` (jinja_eval.cc).
void render_template(const Node& root, const Value& context, std::string& out);

}  // namespace tq::jinja
