// Where each intermediate activation lives in the one activation arena.
#pragma once

#include <cstdint>
#include <vector>

namespace kestrel {

struct MemoryPlan {
  int64_t arena_bytes = 0;
  // Byte offset in the arena per value id; -1 for values outside the arena
  // (constants, graph inputs and outputs, which the caller owns).
  std::vector<int64_t> value_offsets;
};

}  // namespace kestrel
