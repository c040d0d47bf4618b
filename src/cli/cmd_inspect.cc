// tq inspect FILE: what a GGUF file or Hugging Face folder holds — container facts, metadata
// (long arrays abbreviated), every tensor with type, shape and bytes, and totals with bits/weight.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "formats/format.h"
#include "core/timer.h"
#include "io/checksum.h"
#include "io/gguf_reader.h"
#include "io/model_file.h"
#include "model/model.h"
#include "runtime/kv_plan.h"

namespace tq::cli {
namespace {

void print_metadata(const Metadata& meta, size_t array_items) {
  size_t key_width = 0;
  for (const auto& [k, v] : meta.items()) key_width = std::max(key_width, k.size());
  std::printf("metadata (%zu keys):\n", meta.items().size());
  for (const auto& [k, v] : meta.items())
    std::printf("  %-*s %-7s %s\n", static_cast<int>(key_width), k.c_str(), meta_type_name(v.type),
                v.to_string(array_items).c_str());
}

// --verify: the checksums (files tq wrote), then what loading checks (shapes, scales, side data).
Status verify(const ModelFile& mf) {
  Timer t;
  TQ_ASSIGN_OR_RETURN(const ChecksumReport r, verify_tensor_checksums(mf));
  const double hash_s = t.seconds();
  TQ_ASSIGN_OR_RETURN(auto model, bind_model(mf));
  if (r.present)
    std::printf("verified: %zu tensors, %s, match their checksums (%.3f s, %.1f GB/s); the model "
                "binds\n",
                r.n_tensors, format_bytes(static_cast<double>(r.n_bytes)).c_str(), hash_s,
                static_cast<double>(r.n_bytes) / 1e9 / std::max(hash_s, 1e-9));
  else
    std::printf("verified: the model binds (shapes, finite scales); no checksums to compare (%s)\n",
                mf.kind == SourceKind::kGguf ? "the file was not written by tq" : "a Hugging Face folder");
  return ok_status();
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  struct Args {
    std::string path;
    size_t array_items = 8;
    bool no_tensors = false, verify = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "inspect", "Show the metadata and tensors of a GGUF file or Hugging Face folder");
  cmd->add_option("file", args->path, "GGUF file or Hugging Face model folder")->required();
  cmd->add_option("--array-items", args->array_items, "Array elements shown per metadata key")
      ->check(int_range(0, 1 << 30))
      ->capture_default_str();
  cmd->add_flag("--no-tensors", args->no_tensors, "Only metadata and totals");
  cmd->add_flag("--verify", args->verify,
                "First check every tensor against the checksums tq writes into its files (and "
                "that the model binds: shapes, finite scales); damage is an error naming the "
                "tensor");
  cmd->callback([args] {
    auto mf = open_model(args->path);
    exit_on_error(mf.status());
    if (args->verify) exit_on_error(verify(*mf));
    if (mf->kind == SourceKind::kGguf) {
      auto g = read_gguf(args->path);  // container facts (the mapping is shared by the page cache)
      exit_on_error(g.status());
      struct stat st {};
      ::stat(args->path.c_str(), &st);
      std::printf("%s: GGUF v%u, %s, alignment %u, data section at byte %llu\n", args->path.c_str(),
                  g->version, format_bytes(static_cast<double>(st.st_size)).c_str(), g->alignment,
                  static_cast<unsigned long long>(g->data_offset));
    } else {
      std::printf("%s: Hugging Face folder, %zu safetensors file(s)%s%s\n", args->path.c_str(),
                  mf->maps.size(), mf->tokenizer_json_path.empty() ? "" : ", tokenizer.json",
                  mf->tokenizer_model_path.empty() ? "" : ", tokenizer.model");
    }
    if (!mf->architecture().empty())
      std::printf(
          "architecture: %s%s\n", mf->architecture().c_str(),
          mf->qk_rows_permuted() ? " (attn_q/attn_k rows permuted for interleaved RoPE)" : "");
    print_metadata(mf->meta, args->array_items);

    int64_t total_params = 0;
    uint64_t total_bytes = 0;
    std::map<std::string, std::pair<int64_t, uint64_t>> by_type;  // name -> (params, bytes)
    size_t name_width = 4;
    for (const auto& t : mf->tensors) name_width = std::max(name_width, t.name.size());
    if (!args->no_tensors)
      std::printf("tensors (%zu):\n  %-*s %-7s %-20s %12s\n", mf->tensors.size(),
                  static_cast<int>(name_width), "name", "type", "shape", "bytes");
    for (const auto& t : mf->tensors) {
      const int64_t params = is_side_tensor(t.name) ? 0 : t.n_elements();  // maps, hot rows: bytes only
      total_params += params;
      total_bytes += t.n_bytes;
      auto& bt = by_type[type_name(t.type)];
      bt.first += params;
      bt.second += t.n_bytes;
      if (!args->no_tensors)
        std::printf("  %-*s %-7s %-20s %12zu\n", static_cast<int>(name_width), t.name.c_str(),
                    type_name(t.type), t.shape_string().c_str(), t.n_bytes);
    }
    const double bpw =
        total_params ? 8.0 * static_cast<double>(total_bytes) / static_cast<double>(total_params)
                     : 0;
    std::printf("total: %zu tensors, %lld parameters, %s of tensor data, %.3f bits per weight\n",
                mf->tensors.size(), static_cast<long long>(total_params),
                format_bytes(static_cast<double>(total_bytes)).c_str(), bpw);
    // Hot rows (tq quantize +h<K>) of the embedding and of an untied head: what they add.
    for (const char* matrix : {"token_embd.weight", "output.weight"}) {
      const TensorInfo* ids = mf->find(hot_rows_ids_name(matrix));
      const TensorInfo* rows = mf->find(hot_rows_weight_name(matrix));
      const TensorInfo* m = mf->find(matrix);
      if (!ids || !rows || !m || ids->shape.empty()) continue;
      const uint64_t b = ids->n_bytes + rows->n_bytes;
      std::printf("hot rows of %s: %lld tokens, residual rows %s, %s (+%.3f bits per weight of the "
                  "matrix, +%.4f of the model)\n",
                  matrix, static_cast<long long>(ids->shape[0]), type_name(rows->type),
                  format_bytes(static_cast<double>(b)).c_str(),
                  8.0 * static_cast<double>(b) / static_cast<double>(m->n_elements()),
                  total_params ? 8.0 * static_cast<double>(b) / static_cast<double>(total_params) : 0.0);
    }
    for (const auto& [name, pb] : by_type)
      std::printf("  %-7s %12lld parameters (%5.1f%%) %12s\n", name.c_str(),
                  static_cast<long long>(pb.first),
                  total_params
                      ? 100.0 * static_cast<double>(pb.first) / static_cast<double>(total_params)
                      : 0.0,
                  format_bytes(static_cast<double>(pb.second)).c_str());
  });
}

}  // namespace tq::cli
