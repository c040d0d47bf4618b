#include "eval/weight_eval.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/check.h"
#include "core/file_util.h"
#include "core/timer.h"
#include "eval/perplexity.h"
#include "io/tokenizer.h"
#include "runtime/session.h"

namespace tq {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

bool to_double(std::string s, double* out) {
  s = trim(s);
  if (!s.empty() && s.back() == '%') s.pop_back();
  if (!s.empty() && s[0] == '+') s.erase(0, 1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string file_name_for(const WeightEvalRow& r, size_t i) {
  std::string n = fmt::format("row{:02d}_", i);
  for (char c : r.label) n += (std::isalnum(static_cast<unsigned char>(c)) || c == '.') ? c : '_';
  return n + ".gguf";
}

// Everything a row's measured quality depends on (resumed runs reuse a row only when it matches).
std::string row_key(const WeightEvalOptions& o, const WeightEvalRow& r) {
  const QuantizeOptions& q = o.quant;
  return fmt::format("{}|{}|{}|{}|ctx={} ppl={} kld={}|calib={} n={} ctx={} seed={} sens={}|tune={} "
                     "lr={} tw={} max={}|G={} sw={} w={} hot={} {}",
                     r.label, r.recipe, r.method, o.model_path, o.n_ctx, o.ppl_windows, o.kld_windows,
                     q.calib.text_path, q.calib.n_windows, q.calib.n_ctx, q.calib.seed, q.sens_windows,
                     q.tune.steps, q.tune.lr, q.tune_windows, q.tune_max_bpw, q.group,
                     fmt::join(q.sens_widths, ","), fmt::join(q.widths, ","),
                     fmt::join(q.hot_fractions, ","),
                     fmt::format("{}/{}", fmt::join(q.head_hot_fractions, ","),
                                 head_hot_rule_name(q.head_hot_rule))) +
         "|" + o.text_path +
         (parse_method(r.method).ok() && parse_method(r.method)->e2e
              ? fmt::format("|e2e={} lr={} b={}", q.e2e.steps, q.e2e.lr, q.e2e.batch_windows) +
                    (q.e2e_windows > 0 ? fmt::format(" w={}", q.e2e_windows) : std::string()) +
                    fmt::format(" h={}", q.e2e_holdout)
              : "");
}

nlohmann::json e2e_json(const ModelTuneReport& e) {
  return {{"kld_before", e.kld_before}, {"kld_tuned", e.kld_tuned}, {"kept", e.kept},
          {"holdout_before", e.holdout_before}, {"holdout_tuned", e.holdout_tuned},
          {"windows", e.n_windows}, {"holdout_windows", e.n_holdout}, {"tuned", e.n_tuned}, {"fixed", e.n_fixed},
          {"multipliers", e.n_multipliers}, {"seconds", e.seconds}};
}

nlohmann::json row_state(const std::string& key, const WeightEvalResult& x) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : x.report.tensors)
    tensors.push_back({t.name, t.spec, t.type, t.n_params, t.bpw, t.seconds});
  nlohmann::json j = {{"key", key}, {"recipe", x.recipe_canonical}, {"bpw", x.bpw}, {"file_bytes", x.file_bytes},
          {"mem_reduction", x.mem_reduction}, {"ppl", x.ppl}, {"ppl_stderr", x.ppl_stderr},
          {"dppl_pct", x.dppl_pct}, {"kld", x.kld}, {"kld_stderr", x.kld_stderr},
          {"kld_p99", x.kld_p99}, {"top1", x.top1}, {"quant_s", x.quant_s},
          {"calib_s", x.report.calib_s}, {"sens_s", x.report.sens_s}, {"q_s", x.report.quant_s},
          {"tune_s", x.report.tune_s}, {"e2e_s", x.report.e2e_s}, {"total_s", x.report.total_s},
          {"anchors", x.anchors}, {"tensors", tensors}};
  if (x.report.e2e) j["e2e"] = e2e_json(*x.report.e2e);
  return j;
}

// The saved result of row `x.row` when `path` holds one for `key`; false otherwise.
bool load_row_state(const std::string& path, const std::string& key, WeightEvalResult& x) {
  auto text = read_file(path);
  if (!text.ok()) return false;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("key") || j["key"] != key) return false;
  x.recipe_canonical = j.value("recipe", "");
  x.bpw = j.value("bpw", 0.0);
  x.file_bytes = j.value("file_bytes", uint64_t{0});
  x.mem_reduction = j.value("mem_reduction", 0.0);
  x.ppl = j.value("ppl", 0.0);
  x.ppl_stderr = j.value("ppl_stderr", 0.0);
  x.dppl_pct = j.value("dppl_pct", 0.0);
  x.kld = j.value("kld", 0.0);
  x.kld_stderr = j.value("kld_stderr", 0.0);
  x.kld_p99 = j.value("kld_p99", 0.0);
  x.top1 = j.value("top1", 0.0);
  x.quant_s = j.value("quant_s", 0.0);
  x.report.recipe = x.recipe_canonical;
  x.report.bpw = x.bpw;
  x.report.file_bytes = x.file_bytes;
  x.report.calib_s = j.value("calib_s", 0.0);
  x.report.sens_s = j.value("sens_s", 0.0);
  x.report.quant_s = j.value("q_s", 0.0);
  x.report.tune_s = j.value("tune_s", 0.0);
  x.report.e2e_s = j.value("e2e_s", 0.0);
  if (j.contains("e2e")) {
    const auto& e = j["e2e"];
    ModelTuneReport r;
    r.kld_before = e.value("kld_before", 0.0);
    r.kld_tuned = e.value("kld_tuned", 0.0);
    r.kept = e.value("kept", false);
    r.holdout_before = e.value("holdout_before", 0.0);
    r.holdout_tuned = e.value("holdout_tuned", 0.0);
    r.n_holdout = e.value("holdout_windows", int64_t{0});
    r.n_windows = e.value("windows", int64_t{0});
    r.n_tuned = e.value("tuned", int64_t{0});
    r.n_fixed = e.value("fixed", int64_t{0});
    r.n_multipliers = e.value("multipliers", int64_t{0});
    r.seconds = e.value("seconds", 0.0);
    x.report.e2e = r;
  }
  x.report.total_s = j.value("total_s", 0.0);
  x.anchors = j.value("anchors", std::vector<int>{});
  if (j.contains("tensors"))
    for (const auto& t : j["tensors"]) {
      TensorReport r;
      r.name = t[0];
      r.spec = t[1];
      r.type = t[2];
      r.n_params = t[3];
      r.bpw = t[4];
      r.seconds = t[5];
      x.report.tensors.push_back(r);
    }
  return true;
}

std::string human_bytes(double b) {
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  return fmt::format("{:.2f} MB", b / 1e6);
}

}  // namespace

std::string eval_row_size_of(const std::string& recipe) {
  constexpr std::string_view kPrefix = "bpw=like(";
  if (!recipe.starts_with(kPrefix) || !recipe.ends_with(')')) return {};
  return trim(recipe.substr(kPrefix.size(), recipe.size() - kPrefix.size() - 1));
}

Result<std::vector<WeightEvalRow>> parse_eval_rows(const std::string& text,
                                                   const std::string& default_method) {
  std::vector<WeightEvalRow> rows;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) return invalid_argument("--methods '{}': an empty entry", text);
    WeightEvalRow r;
    std::string body = item;
    const size_t colon = item.find(':');
    if (colon != std::string::npos) {
      r.label = trim(item.substr(0, colon));
      body = trim(item.substr(colon + 1));
    }
    const size_t at = body.find('@');
    r.recipe = trim(body.substr(0, at));
    r.method = at == std::string::npos ? default_method : trim(body.substr(at + 1));
    if (r.label.empty()) r.label = fmt::format("{} {}", r.recipe, r.method);
    const std::string like = eval_row_size_of(r.recipe);
    if (!like.empty()) {
      const bool earlier = like == "base" || std::any_of(rows.begin(), rows.end(), [&](const auto& x) {
                             return x.label == like;
                           });
      if (!earlier)
        return invalid_argument("--methods entry '{}': no earlier row labelled '{}'", item, like);
      auto m = parse_method(r.method);
      if (!m.ok()) return m.status().with_context(fmt::format("--methods entry '{}'", item));
    } else if (r.recipe != "base") {
      auto rec = parse_recipe(r.recipe);
      if (!rec.ok()) return rec.status().with_context(fmt::format("--methods entry '{}'", item));
      auto m = parse_method(r.method);
      if (!m.ok()) return m.status().with_context(fmt::format("--methods entry '{}'", item));
    } else {
      r.label = "base";
      r.method = "-";
    }
    rows.push_back(r);
  }
  if (rows.empty() || rows[0].recipe != "base") {
    for (size_t i = 1; i < rows.size(); ++i)
      if (rows[i].recipe == "base") return invalid_argument("--methods: 'base' must come first");
    rows.insert(rows.begin(), WeightEvalRow{"base", "base", "-"});
  }
  return rows;
}

Result<std::vector<AnchorRow>> read_anchor_table(const std::string& path, const std::string& model) {
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(path));
  std::stringstream ss(text);
  std::string line;
  bool in_section = false;
  std::vector<AnchorRow> rows;
  int64_t line_no = 0;
  while (std::getline(ss, line)) {
    ++line_no;
    if (line.starts_with("#")) {
      if (in_section && !rows.empty()) break;
      in_section = line.find(" " + model + " ") != std::string::npos ||
                   line.ends_with(" " + model);
      continue;
    }
    if (!in_section || !line.starts_with("|") || line.starts_with("|---") ||
        line.find("bits/weight") != std::string::npos)
      continue;
    std::vector<std::string> cells;
    std::stringstream ls(line.substr(1));
    std::string cell;
    while (std::getline(ls, cell, '|')) cells.push_back(trim(cell));
    if (!cells.empty() && cells.back().empty()) cells.pop_back();
    AnchorRow a;
    if (cells.size() != 7 || !to_double(cells[1], &a.bpw) || !to_double(cells[2], &a.ppl) ||
        !to_double(cells[3], &a.dppl_pct) || !to_double(cells[4], &a.kld) ||
        !to_double(cells[5], &a.kld_p99) || !to_double(cells[6], &a.top1_pct))
      return corrupt_file("{}:{}: expected | format | bpw | PPL | ΔPPL | KLD | p99 | top-1 |", path,
                          line_no);
    a.format = cells[0];
    rows.push_back(a);
  }
  if (rows.empty()) return corrupt_file("{}: no table for model '{}'", path, model);
  return rows;
}

Result<std::vector<WeightEvalResult>> run_weight_eval(const WeightEvalOptions& opt,
                                                      const std::vector<WeightEvalRow>& rows) {
  std::error_code ec;
  fs::create_directories(opt.work_dir, ec);
  if (ec) return io_error("{}: cannot create the work folder: {}", opt.work_dir, ec.message());
  TQ_ASSIGN_OR_RETURN(auto model, load_model(opt.model_path));
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(model->file));
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(opt.text_path));
  const std::vector<int32_t> ids = tok->encode(text, /*add_special=*/true);
  const std::string base_logits = (fs::path(opt.work_dir) / "base.logits").string();
  QuantizeContext ctx(*model, opt.quant.calib, opt.quant.sens_windows, opt.quant.max_hessian_bytes,
                      opt.progress);
  const uint64_t base_bytes = model->file_tensor_bytes();
  const double base_bpw = 8.0 * static_cast<double>(base_bytes) /
                          static_cast<double>([&] {
                            int64_t n = 0;
                            for (const auto& t : model->file.tensors) n += t.n_elements();
                            return n;
                          }());
  std::vector<WeightEvalResult> out;
  std::vector<std::string> paths;
  double base_ppl = 0;
  Timer run_timer;
  for (size_t i = 0; i < rows.size(); ++i) {
    const WeightEvalRow& row = rows[i];
    WeightEvalResult res;
    res.row = row;
    std::string path = opt.model_path;
    const std::string key = row_key(opt, row);
    const std::string state_path =
        (fs::path(opt.work_dir) / fs::path(file_name_for(row, i)).replace_extension(".json")).string();
    if (opt.resume && load_row_state(state_path, key, res)) {
      if (row.recipe != "base") path = (fs::path(opt.work_dir) / file_name_for(row, i)).string();
      if (fs::exists(row.recipe == "base" ? base_logits : path)) {
        std::fprintf(stderr, "== %s: result of an earlier run (%s)\n", row.label.c_str(), state_path.c_str());
        if (row.recipe == "base") base_ppl = res.ppl;
        out.push_back(std::move(res));
        paths.push_back(path);
        continue;
      }
      res = WeightEvalResult{};
      res.row = row;
      path = opt.model_path;
    }
    if (opt.max_seconds > 0 && run_timer.seconds() > opt.max_seconds) {
      std::fprintf(stderr, "stopping: %.0f s budget used, %zu of %zu rows done\n", opt.max_seconds,
                   out.size(), rows.size());
      return out;
    }
    std::fprintf(stderr, "== %s (%s, %s)\n", row.label.c_str(), row.recipe.c_str(), row.method.c_str());
    if (row.recipe == "base") {
      res.recipe_canonical = "base";
      res.bpw = base_bpw;
      res.file_bytes = base_bytes;
    } else {
      QuantizeOptions q = opt.quant;
      std::string recipe = row.recipe;
      if (const std::string like = eval_row_size_of(recipe); !like.empty()) {
        const auto ref = std::find_if(out.begin(), out.end(), [&](const auto& x) { return x.row.label == like; });
        TQ_CHECK(ref != out.end(), "row '{}' checked by parse_eval_rows", like);
        recipe = fmt::format("bpw={}", ref->bpw);
      }
      TQ_ASSIGN_OR_RETURN(q.recipe, parse_recipe(recipe));
      TQ_ASSIGN_OR_RETURN(q.method, parse_method(row.method));
      q.progress = opt.progress;
      path = (fs::path(opt.work_dir) / file_name_for(row, i)).string();
      auto rep = quantize_model(*model, path, q, &ctx);
      if (!rep.ok()) return rep.status().with_context(fmt::format("row '{}'", row.label));
      res.report = *rep;
      res.recipe_canonical = rep->recipe;
      res.bpw = rep->bpw;
      res.file_bytes = rep->file_bytes;
      res.quant_s = rep->total_s;
      for (size_t a = 0; a < opt.anchors.size(); ++a)
        if (q.recipe.target_bpw && std::fabs(*q.recipe.target_bpw - opt.anchors[a].bpw) < 1e-9)
          res.anchors.push_back(static_cast<int>(a));
    }
    res.mem_reduction = static_cast<double>(base_bytes) / static_cast<double>(res.file_bytes);
    {
      TQ_ASSIGN_OR_RETURN(auto m, load_model(path));
      SessionOptions so;
      so.n_ctx = opt.n_ctx;
      so.n_batch = opt.n_ctx;
      so.device = opt.bench.device;
      TQ_ASSIGN_OR_RETURN(auto session, Session::create(*m, so));
      PerplexityOptions po;
      po.n_ctx = opt.n_ctx;
      po.n_batch = opt.n_ctx;
      po.progress = opt.progress;
      po.max_chunks = opt.kld_windows;
      if (row.recipe == "base") po.save_logits_path = base_logits;
      else po.kld_base_path = base_logits;
      TQ_ASSIGN_OR_RETURN(PerplexityResult k, perplexity(*session, ids, po));
      if (k.kld) {
        res.kld = k.kld->mean;
        res.kld_stderr = k.kld->mean_stderr;
        res.kld_p99 = k.kld->p99;
        res.top1 = k.kld->top1_agreement;
      } else {
        res.top1 = 1;
      }
      po.max_chunks = opt.ppl_windows;
      po.save_logits_path.clear();
      po.kld_base_path.clear();
      TQ_ASSIGN_OR_RETURN(PerplexityResult p, perplexity(*session, ids, po));
      res.ppl = p.ppl;
      res.ppl_stderr = p.ppl_stderr;
      if (row.recipe == "base") base_ppl = p.ppl;
      res.dppl_pct = 100.0 * (p.ppl / base_ppl - 1.0);
      std::fprintf(stderr, "   %.4f bpw, PPL %.4f (%+.2f%%), KLD %.5f, top-1 %.2f%%\n", res.bpw,
                   res.ppl, res.dppl_pct, res.kld, 100 * res.top1);
    }
    if (opt.resume) TQ_RETURN_IF_ERROR(write_file_atomic(state_path, row_state(key, res).dump(1)));
    out.push_back(std::move(res));
    paths.push_back(path);
  }
  // Decode speed of every row back to back, in one run.
  for (size_t i = 0; i < out.size(); ++i) {
    auto b = bench_model(paths[i], opt.bench);
    if (!b.ok()) return b.status().with_context(fmt::format("bench of row '{}'", out[i].row.label));
    out[i].decode_tps = b->decode_tps.mean;
    out[i].decode_sd = b->decode_tps.sd;
    out[i].speedup = out[i].decode_tps / out[0].decode_tps;
    std::fprintf(stderr, "bench %-28s %8.1f ± %.1f tokens/s\n", out[i].row.label.c_str(),
                 out[i].decode_tps, out[i].decode_sd);
  }
  if (!opt.keep_files)
    for (size_t i = 1; i < paths.size(); ++i) fs::remove(paths[i], ec);
  return out;
}

std::string weight_eval_markdown(const WeightEvalOptions& opt,
                                 const std::vector<WeightEvalResult>& r) {
  std::string s = fmt::format(
      "| method | bits/weight | embedding | file | vs base | PPL ({} w) | ΔPPL | mean KLD ({} w) | KLD p99 | "
      "top-1 | decode t/s | speedup | quantize time |{}\n|---|---|---|---|---|---|---|---|---|---|---|---|---|{}\n",
      opt.ppl_windows, opt.kld_windows, opt.anchors.empty() ? "" : " llama.cpp at this size (bpw: ΔPPL, KLD, top-1) |",
      opt.anchors.empty() ? "" : "---|");
  for (const auto& x : r) {
    const bool base = x.row.recipe == "base";
    std::string anchor;
    for (int a : x.anchors) {
      const AnchorRow& ar = opt.anchors[a];
      anchor += fmt::format("{}{} ({:.3f}: {:+.2f}%, {:.4f}, {:.1f}%)", anchor.empty() ? "" : "; ",
                            ar.format, ar.bpw, ar.dppl_pct, ar.kld, ar.top1_pct);
    }
    std::string emb = base ? "source" : "?";
    for (const auto& t : x.report.tensors) {
      if (t.name == "token_embd.weight") emb = t.spec;
      if (t.name == "output.weight") emb += ", head " + t.spec;  // an untied head
    }
    s += fmt::format("| {} | {:.3f} | {} | {} | {:.2f}x | {:.3f} ± {:.3f} | {:+.2f}% | {} | {} | {:.1f}% | "
                     "{:.1f} ± {:.1f} | {:.2f}x | {} |{}\n",
                     x.row.label, x.bpw, emb, human_bytes(static_cast<double>(x.file_bytes)),
                     x.mem_reduction, x.ppl, x.ppl_stderr, x.dppl_pct,
                     base ? "0" : fmt::format("{:.4f}", x.kld), base ? "0" : fmt::format("{:.3f}", x.kld_p99),
                     100 * x.top1, x.decode_tps, x.decode_sd, x.speedup,
                     base ? "-" : fmt::format("{:.1f} s", x.quant_s),
                     opt.anchors.empty() ? "" : " " + (anchor.empty() ? std::string("-") : anchor) + " |");
  }
  return s;
}

std::string weight_eval_targets(const WeightEvalOptions& opt,
                                const std::vector<WeightEvalResult>& r) {
  auto is_tq = [](const WeightEvalResult& x) {
    return x.recipe_canonical.starts_with("tq") || x.recipe_canonical.starts_with("bpw=");
  };
  // The lowest-KLD TurboQuant row at no more than `bpw` bits per weight.
  auto best_at = [&](double bpw) -> const WeightEvalResult* {
    const WeightEvalResult* best = nullptr;
    for (const auto& x : r)
      if (is_tq(x) && x.bpw <= bpw + 1e-9 && (!best || x.kld < best->kld)) best = &x;
    return best;
  };
  std::string s;
  auto line = [&](const std::string& what, double bpw, double kld) {
    const WeightEvalResult* b = best_at(bpw);
    if (!b) {
      s += fmt::format("- {} ({:.3f} bpw, KLD {:.4f}): no TurboQuant row at or below its size\n", what, bpw, kld);
      return;
    }
    s += fmt::format("- {} ({:.3f} bpw, KLD {:.4f}): **{}** — {} at {:.3f} bpw has KLD {:.4f}, {:.2f}x {}\n",
                     what, bpw, kld, b->kld < kld ? "met" : "missed", b->row.label, b->bpw, b->kld,
                     b->kld < kld ? kld / b->kld : b->kld / kld, b->kld < kld ? "lower" : "higher");
  };
  for (const auto& a : opt.anchors)
    if (a.bpw < 8 && (a.format.starts_with("Q4_K_M") || a.format.starts_with("Q3_K_M") ||
                      a.format.starts_with("Q2_K")))
      line("llama.cpp " + a.format, a.bpw, a.kld);
  for (const auto& x : r)
    if (x.recipe_canonical == "rtn4" || x.recipe_canonical == "gptq4") line(x.row.label, x.bpw, x.kld);
  // mixed --bpw 3 against every uniform tq3 row (the tq3 preset, and tq3 with the embedding too).
  // A uniform row more than 0.25 bpw larger (the tq3 preset, whose embedding is tq5) is no
  // equal-size pair: the line states it without judging (a bpw=like(row) row makes that comparison).
  const WeightEvalResult* mixed3 = nullptr;
  for (const auto& x : r)
    if (x.recipe_canonical == "bpw=3" && (!mixed3 || x.kld < mixed3->kld)) mixed3 = &x;
  for (const auto& x : r) {
    if (!mixed3 || !(x.recipe_canonical == "tq3" || x.recipe_canonical.starts_with("tq3;")) ||
        x.recipe_canonical.find("+h") != std::string::npos)  // hot rows: not uniform
      continue;
    const bool comparable = x.bpw <= mixed3->bpw + 0.25 || mixed3->kld < x.kld;
    s += fmt::format("- mixed --bpw 3 vs uniform {}: **{}** — {} ({:.3f} bpw) KLD {:.4f} vs {:.3f} bpw KLD {:.4f}{}\n",
                     x.row.label,
                     !comparable ? "not an equal-size pair" : mixed3->kld < x.kld ? "met" : "missed",
                     mixed3->row.label, mixed3->bpw, mixed3->kld, x.bpw, x.kld,
                     comparable ? "" : fmt::format(" ({:.3f} bpw more)", x.bpw - mixed3->bpw));
  }
  // Every mixed plan at the size of a named row against that row.
  for (const auto& x : r) {
    const std::string like = eval_row_size_of(x.row.recipe);
    if (like.empty()) continue;
    for (const auto& y : r)
      if (y.row.label == like)
        s += fmt::format("- {} vs {} at equal size: **{}** — {:.3f} bpw KLD {:.4f} vs {:.3f} bpw KLD {:.4f} ({:.2f}x {})\n",
                         x.row.label, y.row.label, x.kld < y.kld ? "met" : "missed", x.bpw, x.kld,
                         y.bpw, y.kld, x.kld < y.kld ? y.kld / x.kld : x.kld / y.kld,
                         x.kld < y.kld ? "lower" : "higher");
  }
  return s;
}

nlohmann::json weight_eval_json(const WeightEvalOptions& opt,
                                const std::vector<WeightEvalResult>& r) {
  nlohmann::json j;
  j["model"] = opt.model_path;
  j["text"] = opt.text_path;
  j["ctx"] = opt.n_ctx;
  j["ppl_windows"] = opt.ppl_windows;
  j["kld_windows"] = opt.kld_windows;
  j["calibration"] = {{"file", opt.quant.calib.text_path}, {"windows", opt.quant.calib.n_windows},
                      {"seed", opt.quant.calib.seed}};
  for (const auto& x : r) {
    nlohmann::json row = {{"label", x.row.label}, {"recipe", x.recipe_canonical},
                          {"method", x.row.method}, {"bits_per_weight", x.bpw},
                          {"file_bytes", x.file_bytes}, {"memory_reduction", x.mem_reduction},
                          {"ppl", x.ppl}, {"ppl_stderr", x.ppl_stderr}, {"dppl_pct", x.dppl_pct},
                          {"kld_mean", x.kld}, {"kld_stderr", x.kld_stderr}, {"kld_p99", x.kld_p99},
                          {"top1", x.top1}, {"decode_tps", x.decode_tps}, {"decode_sd", x.decode_sd},
                          {"speedup", x.speedup}, {"quantize_seconds", x.quant_s}};
    if (x.row.recipe != "base")
      row["quantize_breakdown_seconds"] = {{"calibration", x.report.calib_s},
                                           {"sensitivity", x.report.sens_s},
                                           {"quantization", x.report.quant_s},
                                           {"block_tuning", x.report.tune_s},
                                           {"end_to_end_tuning", x.report.e2e_s}};
    if (x.report.e2e) row["e2e"] = e2e_json(*x.report.e2e);
    for (int a : x.anchors)
      row["llamacpp"].push_back({{"format", opt.anchors[a].format}, {"bpw", opt.anchors[a].bpw},
                                 {"dppl_pct", opt.anchors[a].dppl_pct}, {"kld", opt.anchors[a].kld},
                                 {"top1_pct", opt.anchors[a].top1_pct}});
    j["rows"].push_back(row);
  }
  return j;
}

}  // namespace tq
