// The calibration cache: the statistics one calibration run collected, saved
// next to the converted model (OUTPUT.kestrel.calib) and reused by the next
// conversion when, and only when, the model, the calibration images and the
// preprocessing are byte for byte the ones it was made from (with the same
// input shapes, image count, batch and calibrated tensors). Trying another
// calibration method, percentile, quant config or accuracy budget then skips
// the FP32 runs.
//
// File layout (little-endian): "KCALIB01", the four fingerprint words, the
// tensor count, per tensor its name and TensorStats parts, the first
// calibration batch (for the per-layer error report), and last a
// model_checksum of everything before it. A file that fails any check is
// an error naming it; a sound file made from other inputs is "stale".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "quant/calibration_run.h"

namespace kestrel {

inline constexpr char kCalibrationCacheExtension[] = ".calib";

// Content hashes of what calibration consumed.
struct CalibrationFingerprint {
  uint64_t model = 0;       // the source .onnx file's bytes
  uint64_t data = 0;        // the images (or .npy) the run used, and how many
  uint64_t preprocess = 0;  // the preprocessing spec file's bytes (0: none)
  uint64_t setup = 0;       // input shapes, batch, histogram bins, and the calibrated tensors' names
};

// `input_shapes` is the text the user gave (it changes the shapes the model
// runs at). Reads every byte named above: the model, the dataset's files
// for the first data.count images, the spec.
StatusOr<CalibrationFingerprint> fingerprint_calibration(const std::string& model_path, const std::string& input_shapes,
                                                         const CalibrationData& data,
                                                         const std::vector<std::string>& tensors);

Status write_calibration_cache(const std::string& path, const CalibrationFingerprint& fingerprint,
                               const CalibrationResult& result);

struct CalibrationCacheLookup {
  std::optional<CalibrationResult> result;  // set when the cache matches
  std::string stale;                        // when it does not: what differs ("the model", ...)
};

// A missing file is neither (both fields empty). A file that is not a sound
// calibration cache is an error naming it.
StatusOr<CalibrationCacheLookup> read_calibration_cache(const std::string& path,
                                                        const CalibrationFingerprint& fingerprint);

}  // namespace kestrel
