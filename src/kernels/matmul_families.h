// Each family of fast matmul kernels (one file each) exposes its entries; matmul_table.cc
// concatenates them. A new format's kernel = one entry in its family's list (and one line below for
// a new family).
#pragma once

#include <span>

#include "kernels/matmul.h"

namespace tq {

std::span<const MatmulKernel> float_matmul_kernels();  // f32, bf16, f16 (kernels/matmul_float.cc)
std::span<const MatmulKernel> quant_matmul_kernels();  // tq<b>g<G>, q8, rtn4 (kernels/matmul_quant.cc)
std::span<const MatmulKernel> ggml_matmul_kernels();   // llama.cpp's block formats (kernels/matmul_ggml.cc)

}  // namespace tq
