// A node prepared for repeated execution by an optimized backend: created
// once (weights packed, primitive compiled), then run on fixed buffers.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace kestrel {

class FastKernel {
 public:
  virtual ~FastKernel() = default;
  // One pointer per node input / output (null for omitted inputs). Buffers
  // hold the values in the layouts the layout pass chose. An error (a
  // library failure) must not allocate on success; the session adds the node.
  virtual Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) = 0;
  // What runs, e.g. "onednn brgconv:avx512_core" (for bench --per-layer).
  virtual std::string implementation() const = 0;
  // True when the model file held this node's weights packed for another
  // kernel (another CPU, thread count or oneDNN build), so they were packed
  // again from the plain weights at load.
  virtual bool repacked_weights() const { return false; }
};

}  // namespace kestrel
