// Attention inner loops over one KV head's rows stored as f32 or f16 (the building blocks of the
// f32 / f16 KV caches; quantized caches bring their own). Rows are head vectors of head_dim values,
// consecutive positions at a stride of row_stride elements.
#pragma once

#include <cstdint>

namespace tq {

// Keys in blocks of kKeyBlock positions, transposed ("kt" layout): element (pos, c) of a head lives
// at kt[((pos / kKeyBlock) * head_dim + c) * kKeyBlock + pos % kKeyBlock]. A query's scores for a
// block are then plain FMAs of broadcast q[c] with contiguous key vectors (no horizontal sums).
inline constexpr int64_t kKeyBlock = 16;

// s[i * lds + j] = dot(q[i], K[j]) for i < n_q, j < n_pos, keys in the kt layout.
void attn_scores_kt_f32(const float* q, int64_t n_q, const float* kt, int64_t n_pos,
                        int64_t head_dim, float* s, int64_t lds);
void attn_scores_kt_f16(const float* q, int64_t n_q, const uint16_t* kt, int64_t n_pos,
                        int64_t head_dim, float* s, int64_t lds);

// s[i * lds + j] = dot(q[i], K[j]) for i < n_q, j < n_pos, keys as rows.   q: [n_q, head_dim] f32.
void attn_scores_f32(const float* q, int64_t n_q, const float* k, int64_t n_pos, int64_t head_dim,
                     int64_t row_stride, float* s, int64_t lds);
void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* k, int64_t n_pos,
                     int64_t head_dim, int64_t row_stride, float* s, int64_t lds);

// out[i] = sum_j p[i * ldp + j] * V[j] for i < n_q, j < n_pos.   out: [n_q, head_dim] f32.
void attn_mix_f32(const float* p, int64_t ldp, int64_t n_q, const float* v, int64_t n_pos,
                  int64_t head_dim, int64_t row_stride, float* out);
void attn_mix_f16(const float* p, int64_t ldp, int64_t n_q, const uint16_t* v, int64_t n_pos,
                  int64_t head_dim, int64_t row_stride, float* out);

namespace ref {
void attn_scores_f32(const float* q, int64_t n_q, const float* k, int64_t n_pos, int64_t head_dim,
                     int64_t row_stride, float* s, int64_t lds);
void attn_mix_f32(const float* p, int64_t ldp, int64_t n_q, const float* v, int64_t n_pos,
                  int64_t head_dim, int64_t row_stride, float* out);
void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* k, int64_t n_pos,
                     int64_t head_dim, int64_t row_stride, float* s, int64_t lds);
void attn_mix_f16(const float* p, int64_t ldp, int64_t n_q, const uint16_t* v, int64_t n_pos,
                  int64_t head_dim, int64_t row_stride, float* out);
}  // namespace ref

}  // namespace tq
