// Kestrel's own NHWC kernels in the CPU registry (runtime/implementation.h):
// int8 depthwise convolution, channel concatenation (Concat, QConcat), ChannelShuffle and channel Slice,
// and the squeeze-excitation ChannelScale and
// QGlobalAveragePool (kernels/channel_ops.h, kernels/cpu/channel_kernels.h).
#pragma once

#include "runtime/implementation.h"

namespace kestrel {

extern const Implementation kDepthwiseInt8;
extern const Implementation kNhwcConcat;
extern const Implementation kNhwcChannelShuffle;
extern const Implementation kNhwcChannelSlice;
extern const Implementation kLayerNorm;
extern const Implementation kPreprocessFrame;
extern const Implementation kNhwcChannelScale;
extern const Implementation kNhwcChannelAffine;
extern const Implementation kNhwcQuantizedAverage;

}  // namespace kestrel
