// Window geometry and axis helpers shared by the NN reference kernels.
#include "kernels/reference/nn_ops_internal.h"

#include <limits>
#include <optional>

#include "base/checked_math.h"

namespace kestrel::nn {

Status normalize_axis(const Node& node, int64_t axis, int64_t rank, int64_t* result) {
  if (axis < -rank || axis >= rank) {
    return node_error(node, "axis ", axis, " is out of range for rank ", rank, " (expected [", -rank, ", ", rank - 1,
                      "])");
  }
  *result = axis < 0 ? axis + rank : axis;
  return {};
}

namespace {

// Reads an ints attribute that must have `size` entries, each >= `min_value`.
Status read_window_ints(const Node& node, const char* name, size_t size, int64_t fallback, int64_t min_value,
                        std::vector<int64_t>* values) {
  *values = node.attrs.get_ints(name, std::vector<int64_t>(size, fallback));
  if (values->size() != size) {
    return node_error(node, "attribute ", name, " has ", values->size(), " values, expected ", size);
  }
  for (int64_t v : *values) {
    if (v < min_value) return node_error(node, "attribute ", name, " has value ", v, ", expected >= ", min_value);
  }
  return {};
}

// Output size of one dim with explicit pads. Returns -1 when the (dilated)
// kernel does not fit the padded input.
int64_t explicit_output_dim(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t extent, int64_t stride,
                            bool ceil_mode) {
  // Sizes and pads come from the model: every sum is checked (all are >= 0).
  const auto padded = checked_add(in, pad_begin);
  const auto padded_both = padded ? checked_add(*padded, pad_end) : std::nullopt;
  if (!padded_both) return kOverflowedDim;
  const int64_t span = *padded_both - extent;
  if (span < 0) return -1;
  if (!ceil_mode) return span / stride + 1;
  int64_t out = span / stride + (span % stride != 0) + 1;
  // A last window that would start inside the end padding covers no input
  // element; it is dropped (as ONNX Runtime and PyTorch do) so that no
  // window is empty. (out - 1) * stride <= span + stride - 1 cannot overflow.
  if ((out - 1) * stride >= *padded) --out;
  return out;
}

}  // namespace

Status compute_window(const Node& node, const std::vector<int64_t>& input_spatial, const std::vector<int64_t>& kernel,
                      const WindowOptions& options, Window* window) {
  const size_t rank = kernel.size();
  if (input_spatial.size() != rank) {
    return node_error(node, "kernel has ", rank, " spatial dims but the input has ", input_spatial.size());
  }
  for (int64_t k : kernel) {
    if (k < 1) return node_error(node, "kernel dims must be >= 1, got ", k);
  }
  Window& w = *window;
  w.kernel = kernel;
  w.in = input_spatial;
  KESTREL_RETURN_IF_ERROR(read_window_ints(node, "strides", rank, 1, 1, &w.strides));
  KESTREL_RETURN_IF_ERROR(read_window_ints(node, "dilations", rank, 1, 1, &w.dilations));
  if (!options.allow_dilations) {
    for (int64_t d : w.dilations) {
      if (d != 1) return node_error(node, "attribute dilations is not supported by this op before opset 19");
    }
  }
  std::vector<int64_t> pads;
  KESTREL_RETURN_IF_ERROR(read_window_ints(node, "pads", 2 * rank, 0, 0, &pads));
  const std::string auto_pad = node.attrs.get_string("auto_pad", "NOTSET");
  const bool explicit_pads = auto_pad == "NOTSET" || auto_pad.empty();
  if (!explicit_pads && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    return node_error(node, "attribute auto_pad has unknown value '", auto_pad, "'");
  }
  if (!explicit_pads && std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; })) {
    return node_error(node, "attributes pads and auto_pad=", auto_pad, " cannot be used together");
  }
  const int64_t ceil_attr = node.attrs.get_int("ceil_mode", 0);
  if (ceil_attr != 0 && ceil_attr != 1) return node_error(node, "attribute ceil_mode must be 0 or 1, got ", ceil_attr);
  const bool ceil_mode = options.allow_ceil_mode && ceil_attr == 1;

  w.pads_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(rank));
  w.pads_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(rank), pads.end());
  w.out.assign(rank, -1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = w.in[i];
    const int64_t stride = w.strides[i];
    const auto dilated = checked_mul(w.kernel[i] - 1, w.dilations[i]);
    if (!dilated || *dilated == std::numeric_limits<int64_t>::max()) {
      return node_error(node, "kernel dim ", w.kernel[i], " with dilation ", w.dilations[i],
                        " is larger than 64-bit sizes can count");
    }
    const int64_t extent = *dilated + 1;
    if (in < 0) continue;  // unknown until run time
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      w.out[i] = in / stride + (in % stride != 0);
      const auto covered = checked_add(*checked_mul(w.out[i] - (w.out[i] > 0), stride), extent);
      if (!covered) {
        return node_error(node, "window of extent ", extent, " and stride ", stride, " over spatial dim ", i,
                          " of size ", in, " is larger than 64-bit sizes can count");
      }
      const int64_t total = std::max<int64_t>(0, *covered - in);
      const int64_t smaller = total / 2;
      w.pads_begin[i] = auto_pad == "SAME_UPPER" ? smaller : total - smaller;
      w.pads_end[i] = total - w.pads_begin[i];
      continue;
    }
    w.out[i] = explicit_output_dim(in, w.pads_begin[i], w.pads_end[i], extent, stride, ceil_mode && explicit_pads);
    if (w.out[i] == kOverflowedDim) {
      return node_error(node, "pads ", w.pads_begin[i], "+", w.pads_end[i], " on spatial dim ", i, " of size ", in,
                        " make it larger than 64-bit sizes can count");
    }
    if (w.out[i] < 1) {
      return node_error(node, "window of extent ", extent, " does not fit spatial dim ", i, " of size ", in,
                        " with pads ", w.pads_begin[i], "+", w.pads_end[i]);
    }
  }
  return {};
}

Window window_as_3d(const Window& window) {
  Window w = window;
  while (w.kernel.size() < 3) {
    for (auto* dims : {&w.kernel, &w.strides, &w.dilations, &w.in, &w.out}) dims->insert(dims->begin(), 1);
    w.pads_begin.insert(w.pads_begin.begin(), 0);
    w.pads_end.insert(w.pads_end.begin(), 0);
  }
  return w;
}

}  // namespace kestrel::nn
