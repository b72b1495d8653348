// --bake-preprocess: the model takes raw uint8 camera frames. A
// PreprocessFrame node (kernels/image_preprocess.h) is put in front of the
// compiled graph and turns them into the input the model was trained on, with
// the spec's resize, crop, channel order and normalisation; in an INT8 model
// it also writes the first layer's int8 input, so no float image is made.
#pragma once

#include <string>

#include "base/status.h"
#include "ir/graph.h"
#include "kernels/image_preprocess.h"

namespace kestrel {

struct BakeOptions {
  std::string spec_path;          // the preprocessing spec (JSON)
  std::string format;             // gray8, rgb8, bgr8, nv12 (empty: gray8 for a grey spec, else rgb8)
  std::string layout;             // nhwc (default) or nchw
  int64_t height = 0, width = 0;  // the frame size; 0: the model input's size (a spec without resize)
};

// Parses "H,W" for --input-size.
Status parse_frame_size(const std::string& text, int64_t& height, int64_t& width);

// Makes the graph's one float input a frame input of the same name: the
// frames' shape follows from the options, and the spec must turn them into
// exactly the shape the model took (an error names both). Run on the
// optimized (and quantized) graph, before layouts are assigned.
Status bake_preprocess(Graph& graph, const BakeOptions& options);

}  // namespace kestrel
