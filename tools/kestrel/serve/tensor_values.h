// Tensor values between JSON arrays and row-major bytes, for every datatype
// the protocol and Kestrel share (FP16 through float).
#pragma once

#include <cstddef>
#include <kestrel/kestrel.hpp>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace kestrel::serve {

// Fills `dst` (already sized to the tensor's bytes) from a flat or nested
// row-major JSON array. The value count must fill `dst` exactly; integers must
// be integers in the dtype's range, BOOL values true/false.
Status json_to_tensor(const nlohmann::json& data, api::DType dtype, std::span<std::byte> dst, const std::string& what);

// A flat JSON array of the tensor's values.
nlohmann::json tensor_to_json(std::span<const std::byte> src, api::DType dtype);

// IEEE half <-> float (round to nearest even).
uint16_t float_to_half(float value);
float half_to_float(uint16_t half);

}  // namespace kestrel::serve
