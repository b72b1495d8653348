// The seed of randomized tests: random per run, printed once, replayable
// with KESTREL_TEST_SEED=<seed>.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include "base/status.h"

namespace kestrel::testing {

inline uint32_t test_seed() {
  static const uint32_t seed = [] {
    const char* env = std::getenv("KESTREL_TEST_SEED");
    const auto chosen = static_cast<uint32_t>(env ? std::strtoul(env, nullptr, 10) : std::random_device{}());
    std::cout << "[ seed     ] KESTREL_TEST_SEED=" << chosen << "\n";
    return chosen;
  }();
  return seed;
}

// For SCOPED_TRACE: names the seed and how to replay it.
inline std::string seed_trace() {
  return str_cat("seed ", test_seed(), " (replay with KESTREL_TEST_SEED=", test_seed(), ")");
}

}  // namespace kestrel::testing
