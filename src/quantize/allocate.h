// Mixed precision: choose one option (a width) per tensor to minimize the summed predicted loss
// increase subject to a total size, by an exact multiple-choice knapsack (dynamic programming over
// the budget in units of `unit_bits`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tq/status.h"

namespace tq {

struct AllocOption {
  int64_t bits = 0;   // size of the tensor at this option, all scales included
  double cost = 0;    // predicted loss increase (e.g. ΔKLD)
};

struct AllocItem {
  std::string name;
  std::vector<AllocOption> options;  // at least one
};

struct AllocResult {
  std::vector<int> choice;  // [items] index into each item's options
  double cost = 0;          // Σ cost of the chosen options
  int64_t bits = 0;         // Σ bits of the chosen options
};

// Exact minimum of Σ cost subject to Σ ceil(bits / unit_bits) <= floor(budget_bits / unit_bits).
// Costs are used as given (callers make them monotone in bits if they want). Error when even the
// smallest option of every item does not fit. Memory and time: O(items · options · budget/unit).
Result<AllocResult> allocate_bits(const std::vector<AllocItem>& items, int64_t budget_bits,
                                  int64_t unit_bits = 2048);

}  // namespace tq
