// Internal access to a GpuCodec's device tables (for GpuCodes and benchmarks).
#pragma once

#include "kernels/cuda/codec_tables.h"
#include "tq/codec_cuda.h"

namespace tq::cuda::detail {

struct GpuCodecAccess {
  // The tables live as long as any copy of the GpuCodec.
  static const CodecTables& tables(const GpuCodec& codec);
};

}  // namespace tq::cuda::detail
