#include "io/chat_template.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file_util.h"

namespace tq {

namespace {

// tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} of which
// "default" is the chat one.
Result<std::string> hf_chat_template(const std::string& dir) {
  const std::filesystem::path d(dir);
  const std::string jinja_path = (d / "chat_template.jinja").string();
  if (file_exists(jinja_path)) return read_file(jinja_path);
  const std::string cfg_path = (d / "tokenizer_config.json").string();
  if (!file_exists(cfg_path))
    return not_found("{}: no chat template (no chat_template.jinja or tokenizer_config.json)", dir);
  TQ_ASSIGN_OR_RETURN(const std::string text, read_file(cfg_path));
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return corrupt_file("{}: not a JSON object", cfg_path);
  if (!j.contains("chat_template")) return not_found("{}: no chat_template", cfg_path);
  const auto& t = j["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())
    for (const auto& e : t)
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
          e["template"].is_string())
        return e["template"].get<std::string>();
  return corrupt_file("{}: chat_template is neither a string nor a list with a 'default' entry",
                      cfg_path);
}

}  // namespace

Result<ChatTemplate> ChatTemplate::from_source(std::string_view source, std::string bos_token,
                                               std::string eos_token, const std::string& name) {
  ChatTemplate t;
  TQ_ASSIGN_OR_RETURN(t.tmpl_, jinja::Template::parse(source, name));
  t.bos_ = std::move(bos_token);
  t.eos_ = std::move(eos_token);
  t.name_ = name;
  return t;
}

Result<ChatTemplate> ChatTemplate::from_model_file(const ModelFile& mf, const Tokenizer& tok) {
  std::string source, name;
  if (mf.kind == SourceKind::kGguf) {
    if (!mf.meta.has("tokenizer.chat_template"))
      return not_found("{}: the model has no chat template (tokenizer.chat_template)", mf.path);
    TQ_ASSIGN_OR_RETURN(source, mf.meta.get_string("tokenizer.chat_template"));
    name = mf.path + ": tokenizer.chat_template";
  } else {
    TQ_ASSIGN_OR_RETURN(source, hf_chat_template(mf.path));
    name = mf.path + ": chat template";
  }
  auto text = [&](int32_t id) { return id >= 0 ? tok.token_text(id) : std::string(); };
  return from_source(source, text(tok.bos_id()), text(tok.eos_id()), name);
}

Result<std::string> ChatTemplate::render(std::span<const ChatMessage> messages,
                                         bool add_generation_prompt, std::time_t now) const {
  jinja::Value list = jinja::Value::list();
  for (const ChatMessage& m : messages) {
    jinja::Value d = jinja::Value::dict();
    d.as_dict().set("role", jinja::Value(m.role));
    d.as_dict().set("content", jinja::Value(m.content));
    list.as_list().push_back(d);
  }
  jinja::Value ctx = jinja::Value::dict();
  auto& c = ctx.as_dict();
  c.set("messages", list);
  c.set("add_generation_prompt", jinja::Value(add_generation_prompt));
  c.set("bos_token", jinja::Value(bos_));
  c.set("eos_token", jinja::Value(eos_));
  if (now > 0)
    c.set("strftime_now", jinja::Value::function([now](jinja::CallArgs& a) {
            std::tm tm{};
            localtime_r(&now, &tm);
            char buf[256];
            const std::string fmt = a.args.empty() ? "" : a.args[0].str();
            const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
            return jinja::Value(std::string(buf, n));
          }));
  return tmpl_.render(ctx);
}

}  // namespace tq
