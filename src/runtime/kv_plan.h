// KV cache plans as strings (what --kv / --kv-layers accept), memory budgets, and the one-line
// memory summary `tq run / perplexity / bench` print.
//
// Plan grammar (no spaces):   PLAN  := TYPES { ";" LAYERS "=" TYPES }
//                             TYPES := T | K "/" V          (T: keys and values; K, V may be empty
//                                                            in an override: "0=/q8" = values only)
//                             LAYERS:= L { "," L },  L := i | i "-" j   (i, j >= 0; or -1, -2, ...
//                                                            counted from the last layer, alone)
// e.g. "tq3.5"  "tq4/tq3"  "tq3.5;0=tq4.5"  "tq3;0,-1=q8;2-3=tq4/tq3". Later items win.
// --kv-layers takes the part after the first ";" (the overrides alone): "0,-1=q8;2-3=tq4/tq3".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/kv_cache.h"
#include "tq/status.h"

namespace tq {

struct KvPlanItem {
  std::vector<std::pair<int64_t, int64_t>> ranges;  // inclusive layer ranges as written
  std::string k_type, v_type;                        // empty = unchanged
};

struct KvPlan {
  std::string k_type = "f16", v_type = "f16";
  std::vector<KvPlanItem> items;
};

// Parses a whole plan / only the overrides. Errors name the offending piece; type names are
// checked against the KV format table (unknown names list the known ones).
Result<KvPlan> parse_kv_plan(std::string_view s);
Result<std::vector<KvPlanItem>> parse_kv_layers(std::string_view s);
// Canonical text: parse_kv_plan(format_kv_plan(p)) == p and format_kv_plan(parse(s)) == s for a
// string written in canonical form (as in the examples above).
std::string format_kv_plan(const KvPlan& p);

// Applies a plan to a config (types and overrides; seed and channel statistics unchanged).
void apply_kv_plan(const KvPlan& p, KvCacheConfig* cfg);

// "8GiB", "512MiB", "1.5GB", "64kB", "1000000" (bytes). Binary (KiB..TiB) and decimal (kB..TB)
// units, case-insensitive 'b'. Errors: empty, negative or zero, unknown unit, not a number.
Result<int64_t> parse_byte_size(std::string_view s);
// 1536 -> "1.50 KiB"
std::string format_bytes(double bytes);
// 2396745 -> "2,396,745"
std::string with_commas(int64_t n);

// "KV k tq3.5, v tq3.5: 3,584 B/token (3.50 bits/element incl. scales, 4.57x smaller than f16);
// 8.00 GiB holds 2,396,745 tokens" for a cache of this shape and config.
std::string kv_memory_summary(const KvCache& kv, int64_t budget_bytes);
// The longest context (positions) whose cache fits budget_bytes.
int64_t kv_max_context(const KvCache& kv, int64_t budget_bytes);

// `--kv auto`: single KV types (keys and values alike) from the highest measured quality to the
// smallest cache (docs/KV.md "auto"; measured in docs/RESULTS.md). `calibrated`: a calibration text
// gives the channel statistics (--kv-calib FILE), which the transform-coded tqw* types need to
// lead their sizes; without one, the ladder holds the types that do best on data-free statistics.
std::vector<std::string> kv_auto_ladder(bool calibrated);

// The first type of `ladder` whose cache for n_ctx positions of this shape (every layer, keys and
// values) fits budget_bytes. Errors: a bad shape, or no type fits (naming the longest context
// that the smallest one allows and the cache size the largest one needs).
Result<std::string> choose_kv_type(const std::vector<std::string>& ladder, int64_t n_layers,
                                   int64_t n_kv_heads, int64_t head_dim, int64_t n_ctx,
                                   int64_t budget_bytes);

}  // namespace tq
