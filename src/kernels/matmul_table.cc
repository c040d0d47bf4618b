#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "formats/format.h"
#include "kernels/matmul_families.h"

namespace tq {
namespace {

std::vector<MatmulKernel> build_table() {
  std::vector<MatmulKernel> t;
  for (auto family : {float_matmul_kernels(), quant_matmul_kernels(), ggml_matmul_kernels()}) t.insert(t.end(), family.begin(), family.end());
  for (size_t i = 0; i < t.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      TQ_CHECK(t[i].type != t[j].type, "two matmul kernels for type {}", type_name(t[i].type));
  return t;
}

const std::vector<MatmulKernel>& table() {
  static const std::vector<MatmulKernel> t = build_table();
  return t;
}

const MatmulKernel kGeneric = {TypeId::f32, "generic (to_float rows)", matmul_generic};

bool env_forces_reference() {
  const char* v = std::getenv("TQ_KERNELS");
  return v && std::strcmp(v, "ref") == 0;
}

std::atomic<bool>& force_ref_flag() {
  static std::atomic<bool> flag{env_forces_reference()};
  return flag;
}

}  // namespace

std::span<const MatmulKernel> matmul_kernels() {
  return table();
}

const MatmulKernel* find_matmul_kernel(TypeId type) {
  for (const auto& k : table())
    if (k.type == type) return &k;
  return find_format(type) ? &kGeneric : nullptr;
}

void set_force_reference_kernels(bool on) {
  force_ref_flag().store(on);
}
bool force_reference_kernels() {
  return force_ref_flag().load();
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  if (force_reference_kernels()) return matmul_ref(w, x, n_tokens, y);
  const MatmulKernel* k = find_matmul_kernel(w.type);
  TQ_CHECK(k != nullptr, "matmul: unknown weight type {}", static_cast<uint32_t>(w.type));
  k->fn(w, x, n_tokens, y);
}

}  // namespace tq
