// Quantization recipes: which storage format each tensor of a model gets, as a short string that
// parses into a plain struct and prints back canonically (to_string(parse(s)) == s for canonical s).
//
//   recipe  := head (';' override)*
//   head    := spec | 'bpw=' NUMBER            (a uniform default, or a mixed plan to a size budget)
//   override:= pattern '=' spec                (later overrides win over earlier ones)
//   spec    := 'tq' B ['.5'] ['g' G]           TurboQuant weights, B in {2,3,4,5,6,8}, G in {32,64,128}
//                                              (G = 128 when omitted; canonical form omits g128);
//                                              B.5 (B in 2..5): the fractional channel-split format,
//                                              half of the input groups at B+1 bits;
//                                              '+h' K (token_embd only): the K tokens most frequent in
//                                              the calibration text get a residual row in tq<B>g<G>
//            | 'q8' | 'rtn4' | 'gptq4'         baselines (per-row int8; asymmetric int4 g128 by
//                                              round-to-nearest or by GPTQ)
//            | any other format-table name     data-free (the format's from_float), e.g. bf16, q8_0
//   pattern := a tensor name without ".weight" ("blk.3.attn_v", "token_embd"), a suffix after a dot
//              ("attn_v" matches every layer's attn_v), or a glob with '*' ("blk.0.*")
//
// Examples: "tq4", "tq3;attn_v=tq5;ffn_down=tq4", "bpw=2.7", "bpw=3;token_embd=tq6".
// The embedding (token_embd, also the output head when tied) gets an implicit spec unless an
// override names it: for a tq<B> head, tq<B+2> (tq8 above 6 bits; tq<B>.5 → tq<B+2>.5 up to
// tq5.5, else tq8) — measured (docs/research
// WEIGHTS.md §3) as the single most sensitive tensor; for every other head spec, the head spec.
// With 'bpw=' every tensor not pinned by an override is sized by the allocator.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tq/status.h"

namespace tq {

struct TensorSpec {
  enum class Kind {
    kTq,      // TurboQuant tq<bits>g<group>
    kQ8,      // per-output-row symmetric int8
    kRtn4,    // asymmetric int4 group 128, round to nearest
    kGptq4,   // same storage as rtn4, values chosen by GPTQ (act-order, static groups)
    kFormat,  // any format-table type by name, quantized data-free with its from_float
  };
  Kind kind = Kind::kTq;
  int bits = 4;         // kTq (the narrow width of a fractional spec)
  bool half = false;    // kTq: tq<bits>.5, half of the groups at bits+1
  int64_t hot_rows = 0; // kTq, token_embd / output only: rows with a residual (hot rows)
  int group = 128;      // kTq
  std::string format;   // kFormat: the format-table name as written

  bool operator==(const TensorSpec&) const = default;
  // kTq: the nominal width in bits per weight without scales (3 for tq3, 3.5 for tq3.5).
  double width() const { return bits + (half ? 0.5 : 0.0); }
};

struct TensorOverride {
  std::string pattern;
  TensorSpec spec;
  bool operator==(const TensorOverride&) const = default;
};

struct Recipe {
  std::optional<TensorSpec> base;     // uniform default (exactly one of base / target_bpw is set)
  std::optional<double> target_bpw;   // mixed precision to this many bits per weight, all tensors
  std::vector<TensorOverride> overrides;

  bool operator==(const Recipe&) const = default;
};

inline constexpr int kDefaultTqGroup = 128;

// Parses a recipe string. Errors say which item is wrong and why (unknown format, bits or group
// out of range, empty pattern, both or neither of a default and bpw=).
Result<Recipe> parse_recipe(const std::string& text);
// Canonical text: items in order, "tq4" for tq4g128, bpw printed as the shortest decimal.
std::string to_string(const Recipe& r);

Result<TensorSpec> parse_tensor_spec(const std::string& text);
// True when the recipe itself needs calibration text: a bpw= budget, gptq4, or hot rows.
bool recipe_needs_calibration(const Recipe& r);
// The TurboQuant spec of a nominal width (2, 2.5, 3, ... as TensorSpec::width()) and group.
TensorSpec tq_spec_of_width(double width, int group);
std::string to_string(const TensorSpec& s);

// True when `pattern` selects tensor `name` (with or without a ".weight" suffix): exact match, a
// ".pattern" suffix, or a '*' glob over the whole name.
bool pattern_matches(const std::string& pattern, const std::string& name);

// The spec of tensor `name` when the recipe has a uniform base (target_bpw unset): the last
// matching override, else the implicit embedding rule for "token_embd"/"output" of a tied model,
// else base. For mixed recipes: the last matching override, or nullopt (the allocator decides).
std::optional<TensorSpec> spec_for(const Recipe& r, const std::string& name, bool is_embedding);

// The embedding's implicit spec for a uniform head spec (see the top of this file).
TensorSpec implicit_embedding_spec(const TensorSpec& head);

}  // namespace tq
