// Private to src/kernels/onednn/: the only header that includes dnnl.hpp
// (oneDNN 2.x API). Everything version-specific lives behind it.
#pragma once

#include <dnnl.hpp>

#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "kernels/activation.h"
#include "kernels/onednn/onednn_kernels.h"

namespace kestrel::onednn {

using dnnl::memory;
using Dims = memory::dims;
using Tag = memory::format_tag;
inline constexpr memory::data_type kF32 = memory::data_type::f32;
memory::data_type data_type(ElementType type);

// The process's CPU engine (thread-safe in oneDNN). Streams are not: each
// compiled primitive owns one, so different primitives may run on different
// threads. Throws dnnl::error when oneDNN cannot create the engine; callers
// are inside a creation try block.
struct Engine {
  dnnl::engine engine;
  static Engine& instance();
};

// Converts what a creation function caught into a Status naming `what`.
Status status_from_error(const dnnl::error& error, const std::string& what);
Status status_from_exception(const std::exception& error, const std::string& what);

// Runs `build` (which may throw) and turns oneDNN's and the standard
// library's exceptions into a Status, so nothing is thrown out of the module.
template <typename Build>
auto guarded(const std::string& what, Build&& build) -> decltype(build()) {
  try {
    return build();
  } catch (const dnnl::error& error) {
    return status_from_error(error, what);
  } catch (const std::exception& error) {
    return status_from_exception(error, what);
  }
}

// Attributes shared by conv and inner product: user scratchpad, then the
// post-ops in the order of the fused reference, act(result + dst).
// Int8 layers add per-channel (or one) output scales and a scaled sum of
// another element type.
struct QuantAttr {
  const std::vector<float>* output_scales = nullptr;
  float sum_scale = 1.0f;
  ElementType sum_type = ElementType::kF32;
  float post_scale = 1.0f;  // multiplies the activation's result
};
dnnl::primitive_attr make_attr(const Activation& activation, bool sum, const QuantAttr& quant = {});
// Scratchpad-only attributes (pooling).
dnnl::primitive_attr make_plain_attr();

// A copy of `src` in the layout `desc` (weights, bias), owned by the result.
memory reorder_to(const memory& src, const memory::desc& desc);
// Wraps constant caller data for a one-off reorder; nothing is written to it.
memory wrap_const(const memory::desc& desc, const void* data);

namespace detail {

// A ready-to-run primitive: its constant arguments (reordered weights, bias,
// scratchpad) are owned here and bound once; src and dst are memory objects
// without data that run() points at the caller's buffers. run() goes through
// the C API with a prebuilt argument array so it neither allocates argument
// maps nor throws.
class CompiledPrimitive {
 public:
  explicit CompiledPrimitive(const dnnl::primitive_desc_base& pd);

  // Binds a constant argument (DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, ...) for good.
  void bind(int arg, memory value);
  // False when oneDNN reports a failure; the caller turns it into a Status.
  bool run(const void* src, void* dst) const;
  const std::string& implementation() const { return implementation_; }

 private:
  dnnl::primitive primitive_;
  dnnl::stream stream_;
  memory src_, dst_;
  std::vector<memory> owned_;
  std::vector<dnnl_exec_arg_t> args_;
  std::string implementation_;
};

}  // namespace detail
}  // namespace kestrel::onednn
