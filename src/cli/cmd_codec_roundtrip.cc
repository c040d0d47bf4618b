// `tq codec-roundtrip`: encodes the vectors of an .fvecs file with the TurboQuant codec, decodes
// them, writes the reconstruction as .fvecs and prints the error. For checking the codec against
// other implementations (tools/faiss_oracle.py) and for a first look at one's own embeddings.

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/file_util.h"
#include "core/timer.h"
#include "eval/codec_quality.h"
#include "math/stats.h"
#include "tq/codec.h"

namespace tq::cli {
namespace {

struct Options {
  std::string in, out;
  int bits = 4;
  std::string kind = "mse";
  uint64_t seed = 0;
  int64_t max_n = int64_t{1} << 40;
  int threads = 0;
};

Status write_fvecs(const std::string& path, const std::vector<float>& x, int64_t n, int64_t d) {
  TQ_ASSIGN_OR_RETURN(auto f, AtomicFile::create(path));
  const int32_t dim = static_cast<int32_t>(d);
  for (int64_t i = 0; i < n; ++i) {
    TQ_RETURN_IF_ERROR(f->write(&dim, 4));
    TQ_RETURN_IF_ERROR(f->write(x.data() + i * d, 4 * static_cast<size_t>(d)));
  }
  return f->commit();
}

Status run(const Options& o) {
  apply_threads(o.threads);
  if (!o.out.empty()) TQ_RETURN_IF_ERROR(check_output_file(o.out, "-o"));
  int64_t d = 0, n = 0;
  TQ_ASSIGN_OR_RETURN(std::vector<float> x, read_fvecs(o.in, o.max_n, &d, &n));
  CodecConfig cfg;
  cfg.dim = d;
  cfg.bits = o.bits;
  cfg.seed = o.seed;
  if (o.kind == "mse") cfg.kind = CodecKind::kMse;
  else if (o.kind == "prod") cfg.kind = CodecKind::kProd;
  else return invalid_argument("--kind must be mse or prod, got '{}'", o.kind);
  TQ_ASSIGN_OR_RETURN(VectorCodec codec, VectorCodec::create(cfg));
  Timer t;
  TQ_ASSIGN_OR_RETURN(EncodedBatch enc, codec.encode(n, x));
  const double encode_s = t.seconds();
  std::vector<float> back(x.size());
  t.reset();
  TQ_RETURN_IF_ERROR(codec.decode(enc.view(), back));
  const double decode_s = t.seconds();
  if (!o.out.empty()) TQ_RETURN_IF_ERROR(write_fvecs(o.out, back, n, d));
  std::printf("%lld vectors of dim %lld, %s %d bits: %.3f bits/coordinate (norms included), %.2f MB of codes\n",
              static_cast<long long>(n), static_cast<long long>(d), codec_kind_name(cfg.kind), cfg.bits,
              codec.bits_per_coordinate(), codec.bits_per_vector() * n / 8e6);
  std::printf("relative MSE  sum|x - x^|^2 / sum|x|^2 = %.6g (theory for this codebook: %.6g)\n",
              relative_squared_error(back.data(), x.data(), n * d), codec.expected_unit_mse());
  std::printf("encode %.3f s (%.3g vectors/s), decode %.3f s\n", encode_s, n / std::max(encode_s, 1e-9), decode_s);
  return ok_status();
}

}  // namespace

void add_codec_roundtrip_command(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("codec-roundtrip", "Encode + decode an .fvecs file with the TurboQuant codec");
  cmd->add_option("-i,--in", opts->in, "Input vectors (.fvecs)")->required();
  cmd->add_option("-o,--out", opts->out, "Write the reconstruction here (.fvecs)");
  cmd->add_option("-b,--bits", opts->bits, "Bits per coordinate (1..8)")
      ->check(int_range(1, 8))
      ->capture_default_str();
  cmd->add_option("--kind", opts->kind, "mse or prod")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Rotation seed")->capture_default_str();
  cmd->add_option("--max-n", opts->max_n, "Read at most this many vectors")->check(positive_int());
  add_threads_option(cmd, &opts->threads);
  cmd->callback([opts] { exit_on_error(run(*opts)); });
}

}  // namespace tq::cli
