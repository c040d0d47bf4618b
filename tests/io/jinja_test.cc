// The Jinja subset (io/jinja.h) and ChatTemplate against Python's jinja2 set up as Hugging Face's
// apply_chat_template (fixtures tests/data/chat, made by tools/make_chat_fixtures.py): one snippet
// per construct, error cases, and the real templates of SmolLM2, Llama 3.1/3.2, Qwen2.5, Qwen3,
// Mistral Nemo, Gemma 2 and Gemma 3 on seven conversations each.
#include "io/jinja.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "io/chat_template.h"

namespace tq {
namespace {
using json = nlohmann::ordered_json;

const std::string kDir = std::string(TQ_SOURCE_DIR) + "/tests/data/chat/";

json load(const std::string& file) {
  auto text = read_file(kDir + file);
  EXPECT_TRUE(text.ok()) << text.status().to_string();
  return text.ok() ? json::parse(*text) : json();
}

TEST(Jinja, EverySnippetRendersAsJinja2) {
  const json fx = load("snippets.json");
  ASSERT_TRUE(fx.contains("snippets"));
  for (const json& s : fx["snippets"]) {
    const std::string src = s["template"];
    auto t = jinja::Template::parse(src, "snippet");
    ASSERT_TRUE(t.ok()) << src << "\n" << t.status().to_string();
    auto r = t->render(jinja::Value::from_json(s["context"]));
    ASSERT_TRUE(r.ok()) << src << "\n" << r.status().to_string();
    EXPECT_EQ(*r, s["rendered"].get<std::string>()) << "template: " << src;
  }
}

TEST(Jinja, BadTemplatesAreErrorsNamingTheTemplateAndTheProblem) {
  const json fx = load("snippets.json");
  ASSERT_TRUE(fx.contains("errors"));
  for (const json& e : fx["errors"]) {
    const std::string src = e["template"];
    auto t = jinja::Template::parse(src, "bad.jinja");
    Status st = t.status();
    if (t.ok()) st = t->render(jinja::Value::from_json(e["context"])).status();
    ASSERT_FALSE(st.ok()) << src << " was accepted (jinja2: " << e["jinja2"] << ")";
    EXPECT_NE(st.message().find("bad.jinja:1: "), std::string::npos) << st.to_string();
    EXPECT_NE(st.message().find(e["fragment"].get<std::string>()), std::string::npos)
        << src << " gave: " << st.to_string();
  }
}

TEST(Jinja, LineNumbersOfErrors) {
  auto t = jinja::Template::parse("a\nb\n{% if x %}\n{{ x.y.z }}\n{% endif %}", "t.jinja");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  jinja::Value ctx = jinja::Value::dict();
  ctx.as_dict().set("x", jinja::Value(true));
  auto r = t->render(ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("t.jinja:4: "), std::string::npos) << r.status().to_string();
}

TEST(ChatTemplate, RealTemplatesRenderAsJinja2) {
  const json fx = load("templates.json");
  ASSERT_TRUE(fx.contains("templates"));
  int n_cases = 0;
  for (const json& tj : fx["templates"]) {
    const std::string name = tj["name"];
    auto src = read_file(kDir + tj["file"].get<std::string>());
    ASSERT_TRUE(src.ok()) << src.status().to_string();
    auto t = ChatTemplate::from_source(*src, tj["bos_token"], tj["eos_token"], name);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    for (const json& c : tj["cases"]) {
      std::vector<ChatMessage> msgs;
      for (const json& m : c["messages"]) msgs.push_back({m["role"], m["content"]});
      auto r = t->render(msgs, c["add_generation_prompt"].get<bool>());
      const std::string where = name + " / " + c["label"].get<std::string>();
      if (c.contains("error")) {
        ASSERT_FALSE(r.ok()) << where << " rendered, jinja2 raised: " << c["error"];
        EXPECT_NE(r.status().message().find(c["error"].get<std::string>()), std::string::npos)
            << where << ": " << r.status().to_string();
      } else {
        ASSERT_TRUE(r.ok()) << where << ": " << r.status().to_string();
        EXPECT_EQ(*r, c["rendered"].get<std::string>()) << where;
      }
      ++n_cases;
    }
  }
  EXPECT_GE(n_cases, 50);
}

TEST(ChatTemplate, StrftimeNowIsDefinedOnlyWithATime) {
  auto t = ChatTemplate::from_source(
      "{% if strftime_now is defined %}{{ strftime_now('%Y') }}{% else %}none{% endif %}", "", "",
      "date.jinja");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->render({}, false), "none");
  EXPECT_EQ(*t->render({}, false, 86400 * 365), "1971");
}

}  // namespace
}  // namespace tq
