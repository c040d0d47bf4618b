// Jinja template parsing: the text is cut into text and tags (with Hugging Face's chat template
// settings trim_blocks and lstrip_blocks, and the "-" whitespace control), each tag's content into
// tokens, and the tags into a statement tree by recursive descent (jinja2's operator precedence).
#include <fmt/format.h>

#include <cctype>

#include "io/jinja_ast.h"

namespace tq::jinja {
namespace {

// ---- tags ------------------------------------------------------------------------------------

struct Tag {
  enum Kind { kText, kExpr, kStmt } kind;
  int line;
  std::string text;  // kText: the text; otherwise the tag's content without delimiters
};

constexpr const char* kCommentMarker = "\x01comment";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<Tag> split_tags(std::string_view src) {
  struct Raw {
    Tag tag;
    bool strip_before = false, strip_after = false, block = false, plus = false;
  };
  std::vector<Raw> raw;
  int line = 1;
  size_t pos = 0;
  auto count_lines = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) line += src[i] == '\n';
  };
  while (pos < src.size()) {
    size_t open = pos;
    for (;;) {
      open = src.find('{', open);
      if (open == std::string_view::npos || open + 1 >= src.size()) {
        open = std::string_view::npos;
        break;
      }
      const char c = src[open + 1];
      if (c == '{' || c == '%' || c == '#') break;
      ++open;
    }
    const size_t text_end = open == std::string_view::npos ? src.size() : open;
    if (text_end > pos)
      raw.push_back({{Tag::kText, line, std::string(src.substr(pos, text_end - pos))}});
    count_lines(pos, text_end);
    if (open == std::string_view::npos) break;
    const char type = src[open + 1];
    const std::string close = type == '{' ? "}}" : type == '%' ? "%}" : "#}";
    size_t inner = open + 2;
    Raw r;
    r.tag.line = line;
    r.block = type != '{';
    if (inner < src.size() && src[inner] == '-') {
      r.strip_before = true;
      ++inner;
    } else if (inner < src.size() && src[inner] == '+') {
      r.plus = true;
      ++inner;
    }
    size_t end = src.find(close, inner);
    // A string literal may hold the closing delimiter: skip over quoted text in expressions.
    if (type != '#') {
      end = std::string_view::npos;
      char quote = 0;
      for (size_t i = inner; i + 1 < src.size(); ++i) {
        const char c = src[i];
        if (quote) {
          if (c == '\\')
            ++i;
          else if (c == quote)
            quote = 0;
        } else if (c == '\'' || c == '"') {
          quote = c;
        } else if (src.compare(i, 2, close) == 0) {
          end = i;
          break;
        }
      }
    }
    if (end == std::string_view::npos)
      throw Error(line, fmt::format("'{{{}' is never closed", type));
    size_t inner_end = end;
    if (inner_end > inner && src[inner_end - 1] == '-') {
      r.strip_after = true;
      --inner_end;
    }
    count_lines(open, end + 2);
    if (type == '#') {  // a comment: kept as a marker for the whitespace rules, dropped below
      r.tag.kind = Tag::kExpr;
      r.tag.text = kCommentMarker;
    } else {
      r.tag.kind = type == '{' ? Tag::kExpr : Tag::kStmt;
      r.tag.text = std::string(src.substr(inner, inner_end - inner));
    }
    raw.push_back(std::move(r));
    pos = end + 2;
  }
  // Whitespace: "-" strips all whitespace on that side; trim_blocks drops the first newline after
  // a block tag; lstrip_blocks drops spaces/tabs between a line start and a block tag.
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].tag.kind != Tag::kText) continue;
    std::string& t = raw[i].tag.text;
    if (i > 0) {
      const Raw& prev = raw[i - 1];
      if (prev.strip_after) {
        size_t k = 0;
        while (k < t.size() && is_space(t[k])) ++k;
        t.erase(0, k);
      } else if (prev.block) {
        if (t.compare(0, 1, "\n") == 0)
          t.erase(0, 1);
        else if (t.compare(0, 2, "\r\n") == 0)
          t.erase(0, 2);
      }
    }
    if (i + 1 < raw.size()) {
      const Raw& next = raw[i + 1];
      if (next.strip_before) {
        size_t k = t.size();
        while (k > 0 && is_space(t[k - 1])) --k;
        t.erase(k);
      } else if (next.block && !next.plus) {
        size_t k = t.size();
        while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t')) --k;
        if (k > 0 ? t[k - 1] == '\n' : i == 0) t.erase(k);
      }
    }
  }
  std::vector<Tag> tags;
  for (auto& r : raw) {
    if (r.tag.kind == Tag::kExpr && r.tag.text == kCommentMarker) continue;
    if (r.tag.kind == Tag::kText && r.tag.text.empty()) continue;
    tags.push_back(std::move(r.tag));
  }
  return tags;
}

// ---- tokens ----------------------------------------------------------------------------------

struct Tok {
  enum Kind { kName, kString, kInt, kFloat, kOp, kEnd } kind;
  std::string text;
  int64_t i = 0;
  double d = 0;
};

std::vector<Tok> lex(const std::string& s, int line) {
  std::vector<Tok> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::kName, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      bool is_float = false;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      std::string num;
      for (size_t k = i; k < j; ++k)
        if (s[k] != '_') num += s[k];
      Tok t{is_float ? Tok::kFloat : Tok::kInt, num};
      if (is_float)
        t.d = std::stod(num);
      else
        t.i = std::stoll(num);
      out.push_back(t);
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          switch (e) {
            case 'n':
              v += '\n';
              break;
            case 't':
              v += '\t';
              break;
            case 'r':
              v += '\r';
              break;
            case '\\':
              v += '\\';
              break;
            case '\'':
              v += '\'';
              break;
            case '"':
              v += '"';
              break;
            default:
              v += '\\';
              v += e;
              break;
          }
        } else {
          v += s[j];
        }
      }
      if (j >= s.size()) throw Error(line, "unterminated string literal");
      out.push_back({Tok::kString, v});
      i = j + 1;
      continue;
    }
    static const char* const kOps[] = {"==", "!=", "<=", ">=", "//", "**", "<", ">", "+",
                                       "-",  "*",  "/",  "%",  "~",  "|",  ".", ",", ":",
                                       "(",  ")",  "[",  "]",  "{",  "}",  "="};
    bool found = false;
    for (const char* op : kOps) {
      const size_t n = std::char_traits<char>::length(op);
      if (s.compare(i, n, op) == 0) {
        out.push_back({Tok::kOp, op});
        i += n;
        found = true;
        break;
      }
    }
    if (!found) throw Error(line, fmt::format("unexpected character '{}'", c));
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

// ---- expressions -----------------------------------------------------------------------------

class ExprParser {
 public:
  ExprParser(const std::string& text, int line) : toks_(lex(text, line)), line_(line) {}

  bool at_end() const { return peek().kind == Tok::kEnd; }
  const Tok& peek(size_t k = 0) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  bool is_op(const char* op, size_t k = 0) const {
    return peek(k).kind == Tok::kOp && peek(k).text == op;
  }
  bool is_name(const char* n, size_t k = 0) const {
    return peek(k).kind == Tok::kName && peek(k).text == n;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++pos_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    ++pos_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(fmt::format("expected '{}'", op));
  }
  std::string expect_name() {
    if (peek().kind != Tok::kName) fail("expected a name");
    return toks_[pos_++].text;
  }
  void expect_end() {
    if (!at_end()) fail("unexpected text at the end of the tag");
  }
  [[noreturn]] void fail(const std::string& what) const {
    const Tok& t = peek();
    throw Error(line_,
                fmt::format("{} (at '{}')", what, t.kind == Tok::kEnd ? "end of tag" : t.text));
  }

  // expression := conditional; a bare "a, b" is a tuple where the caller allows it.
  ExprP expression() { return conditional(); }
  ExprP tuple_or_expression() {
    ExprP first = expression();
    if (!is_op(",")) return first;
    ExprP t = make(Expr::kTuple);
    t->items.push_back(std::move(first));
    while (accept_op(",")) {
      if (at_end()) break;
      t->items.push_back(expression());
    }
    return t;
  }

 private:
  ExprP make(Expr::Kind k) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line_;
    return e;
  }
  ExprP binary(const std::string& op, ExprP a, ExprP b, Expr::Kind k = Expr::kBinary) {
    ExprP e = make(k);
    e->name = op;
    e->a = std::move(a);
    e->b = std::move(b);
    return e;
  }

  ExprP conditional() {
    ExprP e = or_expr();
    while (accept_name("if")) {
      ExprP c = make(Expr::kCond);
      c->b = or_expr();
      if (accept_name("else")) c->c = conditional();
      c->a = std::move(e);
      e = std::move(c);
    }
    return e;
  }
  ExprP or_expr() {
    ExprP e = and_expr();
    while (accept_name("or")) e = binary("or", std::move(e), and_expr(), Expr::kOr);
    return e;
  }
  ExprP and_expr() {
    ExprP e = not_expr();
    while (accept_name("and")) e = binary("and", std::move(e), not_expr(), Expr::kAnd);
    return e;
  }
  ExprP not_expr() {
    if (accept_name("not")) {
      ExprP e = make(Expr::kUnary);
      e->name = "not";
      e->a = not_expr();
      return e;
    }
    return compare();
  }
  ExprP compare() {
    ExprP e = additive();
    for (;;) {
      static const char* const kCmp[] = {"==", "!=", "<=", ">=", "<", ">"};
      bool done = true;
      for (const char* op : kCmp)
        if (accept_op(op)) {
          e = binary(op, std::move(e), additive());
          done = false;
          break;
        }
      if (!done) continue;
      if (accept_name("in")) {
        e = binary("in", std::move(e), additive());
      } else if (is_name("not") && is_name("in", 1)) {
        pos_ += 2;
        e = binary("not in", std::move(e), additive());
      } else {
        return e;
      }
    }
  }
  // jinja2's precedence: + and - bind looser than ~, which binds looser than * / // %.
  ExprP additive() {
    ExprP e = concat();
    for (;;) {
      if (accept_op("+"))
        e = binary("+", std::move(e), concat());
      else if (accept_op("-"))
        e = binary("-", std::move(e), concat());
      else
        return e;
    }
  }
  ExprP concat() {
    ExprP e = multiplicative();
    while (accept_op("~")) e = binary("~", std::move(e), multiplicative());
    return e;
  }
  ExprP multiplicative() {
    ExprP e = power();
    for (;;) {
      const char* op = is_op("//")  ? "//"
                       : is_op("*") ? "*"
                       : is_op("/") ? "/"
                       : is_op("%") ? "%"
                                    : nullptr;
      if (!op) return e;
      ++pos_;
      e = binary(op, std::move(e), power());
    }
  }
  ExprP power() {
    ExprP e = unary();
    while (accept_op("**")) e = binary("**", std::move(e), unary());
    return e;
  }
  ExprP unary() {
    if (is_op("-") || is_op("+")) {
      ExprP e = make(Expr::kUnary);
      e->name = toks_[pos_++].text;
      e->a = unary();
      return e;
    }
    return filtered(postfix(primary()));
  }
  ExprP primary() {
    const Tok& t = peek();
    if (t.kind == Tok::kString) {
      ExprP e = make(Expr::kLiteral);
      std::string s = t.text;
      ++pos_;
      while (peek().kind == Tok::kString) s += toks_[pos_++].text;  // "a" "b" concatenates
      e->value = Value(std::move(s));
      return e;
    }
    if (t.kind == Tok::kInt || t.kind == Tok::kFloat) {
      ExprP e = make(Expr::kLiteral);
      e->value = t.kind == Tok::kInt ? Value(t.i) : Value(t.d);
      ++pos_;
      return e;
    }
    if (t.kind == Tok::kName) {
      ++pos_;
      ExprP e = make(Expr::kLiteral);
      if (t.text == "true" || t.text == "True") {
        e->value = Value(true);
      } else if (t.text == "false" || t.text == "False") {
        e->value = Value(false);
      } else if (t.text == "none" || t.text == "None") {
        e->value = Value::none();
      } else {
        e->kind = Expr::kName;
        e->name = t.text;
      }
      return e;
    }
    if (accept_op("(")) {
      if (accept_op(")")) return make(Expr::kTuple);
      ExprP e = tuple_or_expression();
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      ExprP e = make(Expr::kList);
      while (!accept_op("]")) {
        e->items.push_back(expression());
        if (!accept_op(",")) {
          expect_op("]");
          break;
        }
      }
      return e;
    }
    if (accept_op("{")) {
      ExprP e = make(Expr::kDict);
      while (!accept_op("}")) {
        e->items.push_back(expression());
        expect_op(":");
        e->items.push_back(expression());
        if (!accept_op(",")) {
          expect_op("}");
          break;
        }
      }
      return e;
    }
    fail("expected a value");
  }
  // Call arguments after "(": positional, then name=value.
  void call_args(Expr& e) {
    while (!accept_op(")")) {
      if (peek().kind == Tok::kName && is_op("=", 1)) {
        std::string k = toks_[pos_].text;
        pos_ += 2;
        e.kwargs.emplace_back(std::move(k), expression());
      } else {
        e.items.push_back(expression());
      }
      if (!accept_op(",")) {
        expect_op(")");
        break;
      }
    }
  }
  ExprP postfix(ExprP e) {
    for (;;) {
      if (accept_op(".")) {
        ExprP a = make(Expr::kAttr);
        a->name = expect_name();
        a->a = std::move(e);
        e = std::move(a);
      } else if (accept_op("[")) {
        ExprP start, stop, step;
        bool slice = false;
        if (!is_op(":")) start = expression();
        if (accept_op(":")) {
          slice = true;
          if (!is_op("]") && !is_op(":")) stop = expression();
          if (accept_op(":") && !is_op("]")) step = expression();
        }
        expect_op("]");
        ExprP x = make(slice ? Expr::kSlice : Expr::kIndex);
        x->a = std::move(e);
        if (slice) {
          x->items.push_back(std::move(start));
          x->items.push_back(std::move(stop));
          x->items.push_back(std::move(step));
        } else {
          x->b = std::move(start);
        }
        e = std::move(x);
      } else if (accept_op("(")) {
        ExprP c = make(Expr::kCall);
        c->a = std::move(e);
        call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }
  ExprP filtered(ExprP e) {
    for (;;) {
      if (accept_op("|")) {
        ExprP f = make(Expr::kFilter);
        f->name = expect_name();
        f->a = std::move(e);
        if (accept_op("(")) call_args(*f);
        e = std::move(f);
      } else if (accept_name("is")) {
        ExprP t = make(Expr::kTest);
        t->negated = accept_name("not");
        t->name = expect_name();
        t->a = std::move(e);
        if (accept_op("(")) {
          call_args(*t);
        } else if (!at_end() && (peek().kind == Tok::kString || peek().kind == Tok::kInt ||
                                 peek().kind == Tok::kFloat ||
                                 (peek().kind == Tok::kName && !is_name("and") && !is_name("or") &&
                                  !is_name("else") && !is_name("if")))) {
          t->items.push_back(primary());  // "is equalto 5", "is sameas none"
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  std::vector<Tok> toks_;
  size_t pos_ = 0;
  int line_;
};

// ---- statements ------------------------------------------------------------------------------

class StmtParser {
 public:
  explicit StmtParser(std::vector<Tag> tags) : tags_(std::move(tags)) {}

  std::unique_ptr<Node> parse() {
    auto root = std::make_unique<Node>();
    root->kind = Node::kRoot;
    std::string stop = body(root->body, {});
    if (!stop.empty()) throw Error(stop_line_, fmt::format("unexpected '{}'", stop));
    return root;
  }

 private:
  // Parses nodes until a statement whose keyword is in `stops` (returned; its tag is consumed
  // and its parser left in stop_parser_) or the end ("").
  std::string body(Body& out, std::initializer_list<const char*> stops) {
    while (pos_ < tags_.size()) {
      const Tag& t = tags_[pos_++];
      if (t.kind == Tag::kText) {
        auto n = node(Node::kText, t.line);
        n->text = t.text;
        out.push_back(std::move(n));
        continue;
      }
      auto p = std::make_unique<ExprParser>(t.text, t.line);
      if (t.kind == Tag::kExpr) {
        auto n = node(Node::kOutput, t.line);
        n->expr = p->expression();
        p->expect_end();
        out.push_back(std::move(n));
        continue;
      }
      const std::string kw = p->expect_name();
      for (const char* s : stops)
        if (kw == s) {
          stop_parser_ = std::move(p);
          stop_line_ = t.line;
          return kw;
        }
      if (kw == "if") {
        out.push_back(if_stmt(*p, t.line));
      } else if (kw == "for") {
        out.push_back(for_stmt(*p, t.line));
      } else if (kw == "set") {
        out.push_back(set_stmt(*p, t.line));
      } else if (kw == "break" || kw == "continue") {
        p->expect_end();
        out.push_back(node(kw == "break" ? Node::kBreak : Node::kContinue, t.line));
      } else {
        stop_line_ = t.line;
        if (kw == "endif" || kw == "endfor" || kw == "else" || kw == "elif")
          throw Error(t.line, fmt::format("unexpected '{}'", kw));
        throw Error(t.line, fmt::format("unsupported statement '{}'", kw));
      }
    }
    return "";
  }
  std::unique_ptr<Node> node(Node::Kind k, int line) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->line = line;
    return n;
  }
  void require(const std::string& got, const char* what, int line) {
    if (got.empty())
      throw Error(line, fmt::format("expected '{}' before the end of the template", what));
  }
  std::unique_ptr<Node> if_stmt(ExprParser& p, int line) {
    auto n = node(Node::kIf, line);
    ExprP cond = p.expression();
    p.expect_end();
    for (;;) {
      Body b;
      const std::string stop = body(b, {"elif", "else", "endif"});
      require(stop, "endif", line);
      n->branches.emplace_back(std::move(cond), std::move(b));
      if (stop == "endif") {
        stop_parser_->expect_end();
        return n;
      }
      if (stop == "else") {
        stop_parser_->expect_end();
        Body e;
        const std::string end = body(e, {"endif"});
        require(end, "endif", line);
        stop_parser_->expect_end();
        n->branches.emplace_back(nullptr, std::move(e));
        return n;
      }
      cond = stop_parser_->expression();  // elif
      stop_parser_->expect_end();
    }
  }
  std::unique_ptr<Node> for_stmt(ExprParser& p, int line) {
    auto n = node(Node::kFor, line);
    do {
      n->targets.push_back(p.expect_name());
    } while (p.accept_op(","));
    if (!p.accept_name("in")) p.fail("expected 'in'");
    n->expr = p.expression();  // stops before a trailing "if" only through the conditional rule
    // "for x in items if cond": the conditional-expression rule consumed "if cond" without else.
    if (n->expr->kind == Expr::kCond && !n->expr->c) {
      n->filter = std::move(n->expr->b);
      n->expr = std::move(n->expr->a);
    }
    if (p.accept_name("recursive")) p.fail("recursive loops are not supported");
    p.expect_end();
    const std::string stop = body(n->body, {"else", "endfor"});
    require(stop, "endfor", line);
    stop_parser_->expect_end();
    if (stop == "else") {
      const std::string end = body(n->else_body, {"endfor"});
      require(end, "endfor", line);
      stop_parser_->expect_end();
    }
    return n;
  }
  std::unique_ptr<Node> set_stmt(ExprParser& p, int line) {
    auto n = node(Node::kSet, line);
    n->targets.push_back(p.expect_name());
    if (p.accept_op(".")) {
      n->attr = p.expect_name();
    } else {
      while (p.accept_op(",")) n->targets.push_back(p.expect_name());
    }
    if (!p.accept_op("=")) p.fail("block 'set' (without '=') is not supported");
    n->expr = p.tuple_or_expression();
    p.expect_end();
    return n;
  }

  std::vector<Tag> tags_;
  size_t pos_ = 0;
  std::unique_ptr<ExprParser> stop_parser_;
  int stop_line_ = 0;
};

}  // namespace

std::unique_ptr<Node> parse_template(std::string_view source) {
  return StmtParser(split_tags(source)).parse();
}

}  // namespace tq::jinja
