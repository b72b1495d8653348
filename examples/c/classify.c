/* Classifies images with a .kestrel model: one batch, the top-1 class of each.
 *   classify MODEL.kestrel PREPROCESS.json IMAGE... */
#include <kestrel/kestrel.h>
#include <stdio.h>
#include <string.h>

#define CHECK(call)                                       \
  if ((call) != KESTREL_OK) {                             \
    fprintf(stderr, "error: %s\n", kestrel_last_error()); \
    return 1;                                             \
  }

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL.kestrel PREPROCESS.json IMAGE...\n", argv[0]);
    return 2;
  }
  kestrel_model_t* model = NULL;
  kestrel_session_t* session = NULL;
  kestrel_tensor_info_t input, output;
  void* batch = NULL;
  const void* logits = NULL;
  size_t input_bytes = 0, output_bytes = 0;
  CHECK(kestrel_model_load(argv[1], &model));
  CHECK(kestrel_session_create(model, NULL, &session));
  CHECK(kestrel_model_input_info(model, 0, &input));
  CHECK(kestrel_model_output_info(model, 0, &output));
  CHECK(kestrel_session_input_buffer(session, 0, &batch, &input_bytes));
  const size_t rows = (size_t)input.dims[0], images = (size_t)argc - 3 < rows ? (size_t)argc - 3 : rows;
  memset(batch, 0, input_bytes);
  for (size_t i = 0; i < images; ++i)
    CHECK(kestrel_preprocess_image(argv[2], argv[3 + i], (float*)batch + i * (input_bytes / 4 / rows),
                                   input_bytes / rows, NULL));
  CHECK(kestrel_session_run_simple(session));
  CHECK(kestrel_session_output_buffer(session, 0, &logits, &output_bytes));
  const size_t classes = (size_t)output.dims[1];
  for (size_t i = 0; i < images; ++i) {
    const float* row = (const float*)logits + i * classes;
    size_t best = 0;
    for (size_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
    printf("%s: %zu\n", argv[3 + i], best);
  }
  kestrel_session_destroy(session);
  kestrel_model_destroy(model);
  return 0;
}
