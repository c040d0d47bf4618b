// Python semantics shared by the Jinja evaluator (internal; jinja_builtins.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/jinja_ast.h"

namespace tq::jinja::builtins {

[[noreturn]] void fail(int line, const std::string& what);  // throws Error
const char* kind_name(const Value& v);                      // Python's type name
std::vector<std::string> chars_of(const std::string& s);    // UTF-8 characters
bool is_py_space(char c);
std::string strip(const std::string& s, const Value& chars, bool left, bool right);
std::vector<std::string> split(const std::string& s, const Value& sep, int64_t maxsplit);
std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        int64_t count = -1);
std::string case_map(const std::string& s, int mode /*0 lower, 1 upper*/);
std::string title(const std::string& s);
// -1, 0, 1 as Python's <, ==, > for numbers, strings and lists; other pairs are an error.
int compare_values(const Value& a, const Value& b, int line);
// The items a for loop walks: list elements, dict keys, string characters; undefined: none.
Value::List iterate(const Value& v, int line);
int64_t length_of(const Value& v, int line);
Value make_items(const Value& d);  // dict -> [[key, value], ...]
const Value* kwarg(const CallArgs& a, const char* name);
// Positional argument i, else keyword `name`, else undefined.
Value arg(const CallArgs& a, size_t i, const char* name = "");
// Python's `item in container`.
bool contains(const Value& container, const Value& item, int line);
// obj.name: a dict's value (or its items/keys/values/get method), a str method, else undefined;
// reading an attribute of an undefined value is an error.
Value attribute(const Value& obj, const std::string& name, int line);
// A str or dict method bound to obj (undefined when there is none by that name).
Value bound_method(const Value& obj, const std::string& name, int line);
// `v is name(args)`.
bool test(const std::string& name, const Value& v, const CallArgs& a, int line);

}  // namespace tq::jinja::builtins
