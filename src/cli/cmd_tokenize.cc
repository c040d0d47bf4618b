// tq tokenize: text -> ids and pieces with a model's tokenizer (debugging), or a whole file's token
// count and encode throughput.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "core/file_util.h"
#include "io/model_file.h"
#include "io/tokenizer.h"
#include "io/tokenizer_text.h"

namespace tq::cli {
namespace {

struct TokenizeOptions {
  std::string model, prompt, file;
  bool no_special = false;
  bool ids_only = false;
};

// Printable form of a token's bytes: escapes control characters and bytes that are not UTF-8.
std::string escape(const std::string& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (const int n = tok::utf8_valid_len(s, i); c >= 0x80 && n > 1) {
      r.append(s, i, n);
      i += n - 1;
      continue;
    }
    if (c >= 0x80)
      r += fmt::format("\\x{:02x}", c);
    else if (c == '\n')
      r += "\\n";
    else if (c == '\t')
      r += "\\t";
    else if (c == '\r')
      r += "\\r";
    else if (c == '\\')
      r += "\\\\";
    else if (c < 0x20 || c == 0x7F)
      r += fmt::format("\\x{:02x}", c);
    else
      r += static_cast<char>(c);
  }
  return r;
}

Result<std::unique_ptr<Tokenizer>> load(const std::string& path) {
  if (path.size() >= 5 && path.substr(path.size() - 5) == ".json")
    return Tokenizer::from_tokenizer_json(path);
  if (path.size() >= 6 && path.substr(path.size() - 6) == ".model")
    return Tokenizer::from_sentencepiece_model(path);
  TQ_ASSIGN_OR_RETURN(ModelFile mf, open_model(path));
  return Tokenizer::from_model_file(mf);
}

Status run_tokenize(const TokenizeOptions& o) {
  TQ_ASSIGN_OR_RETURN(auto tok, load(o.model));
  if (o.prompt.empty() == o.file.empty())
    return invalid_argument("give exactly one of -p TEXT or -f FILE");
  if (!o.file.empty()) {
    TQ_ASSIGN_OR_RETURN(std::string text, read_file(o.file));
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok->encode(text, !o.no_special);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %zu bytes -> %zu tokens (%.3f bytes/token), encode %.3f s = %.1f MB/s\n",
                o.file.c_str(), text.size(), ids.size(),
                ids.empty() ? 0.0 : double(text.size()) / ids.size(), s, text.size() / 1e6 / s);
    return ok_status();
  }
  const auto ids = tok->encode(o.prompt, !o.no_special);
  if (o.ids_only) {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += fmt::format("{}{}", i ? ", " : "[", ids[i]);
    std::printf("%s]\n", ids.empty() ? "[" : line.c_str());
    return ok_status();
  }
  for (int32_t id : ids)
    std::printf("%8d  %-24s '%s'\n", id, escape(tok->token_text(id)).c_str(),
                escape(tok->token_bytes(id)).c_str());
  std::printf("%zu tokens (vocabulary %d, bos %d, eos %d, adds bos: %s)\n", ids.size(),
              tok->n_vocab(), tok->bos_id(), tok->eos_id(), tok->adds_bos() ? "yes" : "no");
  return ok_status();
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize", "Show the token ids and pieces of a text (or time encoding a file)");
  cmd->add_option("-m,--model", o->model,
                  "HF model folder, GGUF file, tokenizer.json or tokenizer.model")
      ->required();
  cmd->add_option("-p,--prompt", o->prompt, "Text to tokenize");
  cmd->add_option("-f,--file", o->file,
                  "File to tokenize: prints the token count and encode speed");
  cmd->add_flag("--no-special", o->no_special,
                "Do not add BOS/EOS (even where the tokenizer would)");
  cmd->add_flag("--ids", o->ids_only, "Print only the id list");
  cmd->callback([o] { exit_on_error(run_tokenize(*o)); });
}

}  // namespace tq::cli
