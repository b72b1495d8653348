// kestrel_preprocess_image: the eval/calibration input pipeline for API users.
#include "c_api_internal.h"
#include "io/image.h"
#include "io/preprocess.h"

extern "C" {

kestrel_status_t kestrel_preprocess_image(const char* preprocess_path, const char* image_path, float* dst,
                                          size_t dst_bytes, int64_t dims[3]) {
  using namespace kestrel;
  return c_api::guarded([&]() -> Status {
    constexpr const char* kFunction = "kestrel_preprocess_image";
    KESTREL_RETURN_IF_ERROR(c_api::require(preprocess_path, kFunction, "preprocess_path"));
    KESTREL_RETURN_IF_ERROR(c_api::require(image_path, kFunction, "image_path"));
    if (dst == nullptr) KESTREL_RETURN_IF_ERROR(c_api::require(dims, kFunction, "dims (with dst NULL)"));
    KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(preprocess_path));
    KESTREL_ASSIGN_OR_RETURN(const Image image, decode_image_file(image_path));
    auto size = preprocessed_size(spec, image.height, image.width, image.channels);
    if (!size.ok()) return size.status().with_context(image_path);
    const Shape shape = preprocessed_batch_shape(spec, *size, 1);
    const size_t bytes = static_cast<size_t>(shape_size(shape)) * sizeof(float);
    if (dims != nullptr) {
      for (size_t i = 0; i < 3; ++i) dims[i] = shape[i + 1];
    }
    if (dst == nullptr) return {};
    if (dst_bytes != bytes) {
      return invalid_argument(image_path, ": preprocesses to ", shape_string(shape), " (", bytes, " bytes), dst has ",
                              dst_bytes);
    }
    return preprocess_image(spec, image, dst).with_context(image_path);
  });
}

}  // extern "C"
