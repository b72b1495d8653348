/* Kestrel C API: load an optimized .kestrel model, run it, convert ONNX
 * models. A stable C ABI over the library (C99; usable from C++ and through
 * FFI); include/kestrel/kestrel.hpp is a header-only C++ wrapper over it.
 *
 * Usage — this example is compiled and run by the test suite exactly as
 * written here (tests/api/CMakeLists.txt extracts it):
 *
 * @code
 * #include <stdio.h>
 * #include <stdlib.h>
 *
 * #include <kestrel/kestrel.h>
 *
 * // Runs a model with one float32 input and one float32 output on an
 * // all-zero input and prints the output.
 * int main(int argc, char** argv) {
 *   if (argc != 2) {
 *     fprintf(stderr, "usage: %s MODEL.kestrel\n", argv[0]);
 *     return 2;
 *   }
 *   int exit_code = 1;
 *   kestrel_model_t* model = NULL;
 *   kestrel_session_t* session = NULL;
 *   float* input = NULL;
 *   float* output = NULL;
 *   kestrel_tensor_info_t in, out;
 *   if (kestrel_model_load(argv[1], &model) != KESTREL_OK ||
 *       kestrel_model_input_info(model, 0, &in) != KESTREL_OK ||
 *       kestrel_model_output_info(model, 0, &out) != KESTREL_OK ||
 *       kestrel_session_create(model, NULL, &session) != KESTREL_OK) {
 *     fprintf(stderr, "error: %s\n", kestrel_last_error());
 *     goto done;
 *   }
 *   if (in.dtype != KESTREL_DTYPE_FLOAT32 || out.dtype != KESTREL_DTYPE_FLOAT32) {
 *     fprintf(stderr, "error: this example runs float32 models only\n");
 *     goto done;
 *   }
 *   input = calloc(1, in.bytes);
 *   output = malloc(out.bytes);
 *   if (input == NULL || output == NULL) goto done;
 *   {
 *     const kestrel_tensor_t inputs[] = {{in.name, in.dtype, in.dims, in.rank, input, in.bytes}};
 *     kestrel_tensor_t outputs[] = {{out.name, out.dtype, out.dims, out.rank, output, out.bytes}};
 *     if (kestrel_session_run(session, inputs, 1, outputs, 1) != KESTREL_OK) {
 *       fprintf(stderr, "error: %s\n", kestrel_last_error());
 *       goto done;
 *     }
 *   }
 *   printf("%s:", out.name);
 *   for (size_t i = 0; i < out.bytes / sizeof(float); ++i) printf(" %g", output[i]);
 *   printf("\n");
 *   exit_code = 0;
 * done:
 *   free(input);
 *   free(output);
 *   kestrel_session_destroy(session);
 *   kestrel_model_destroy(model);
 *   return exit_code;
 * }
 * @endcode
 *
 * Conventions that hold for every function below:
 *  - Functions return a kestrel_status_t. On failure they change none of
 *    their out-parameters, and kestrel_last_error() gives a one-line message
 *    naming the thing at fault (file, tensor, argument) and the reason.
 *    Misuse (NULL handles or pointers, unknown names, wrong dtypes, dims or
 *    byte sizes) is reported this way; the library never aborts on it.
 *  - Ownership: every *_create / *_load has a matching *_destroy; destroying
 *    NULL does nothing. Strings and arrays returned through out-parameters
 *    are owned by the handle they came from and stay valid until it is
 *    destroyed, unless a function says otherwise. Pointers the caller passes
 *    in are only read during the call, unless a function says otherwise.
 *  - Threads: a kestrel_model_t is immutable after loading; any number of
 *    threads may query it and create sessions from it at once. A
 *    kestrel_session_t has its own activation memory and must be used by one
 *    thread at a time (run it from any thread, but not from two at once; a
 *    second concurrent run on the same session fails with
 *    KESTREL_INVALID_ARGUMENT rather than corrupting it). Options objects are
 *    plain values: do not modify one while another thread reads it.
 *  - No exception crosses this API; a C++ exception inside the library
 *    (out of memory, for one) becomes a status.
 */
#ifndef KESTREL_KESTREL_H_
#define KESTREL_KESTREL_H_

/* A C header: typedef and <stdint.h> are what C has.
   NOLINTBEGIN(modernize-use-using,modernize-deprecated-headers) */
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define KESTREL_API __attribute__((visibility("default")))
#else
#define KESTREL_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status, errors, element types                                            */
/* ------------------------------------------------------------------------ */

/* The library's status codes (the values of src/base/status.h's StatusCode),
 * plus KESTREL_OUT_OF_MEMORY, which only the API boundary produces. */
typedef enum kestrel_status_t {
  KESTREL_OK = 0,
  KESTREL_INVALID_ARGUMENT = 1, /* bad input: arguments, shapes, tensors, misuse */
  KESTREL_NOT_FOUND = 2,        /* a file, tensor name or metadata key that does not exist */
  KESTREL_UNIMPLEMENTED = 3,    /* valid input Kestrel does not support (yet) */
  KESTREL_DATA_LOSS = 4,        /* a malformed or truncated file */
  KESTREL_INTERNAL = 5,         /* a bug in Kestrel */
  KESTREL_OUT_OF_MEMORY = 6     /* an allocation failed */
} kestrel_status_t;

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for other values. Static storage. */
KESTREL_API const char* kestrel_status_string(kestrel_status_t status);

/* The message of the last call that failed on the calling thread ("" if none
 * has). Thread-local: other threads' failures never change it. Valid until the
 * next failing call on this thread; successful calls leave it unchanged. */
KESTREL_API const char* kestrel_last_error(void);

/* The library version, "MAJOR.MINOR.PATCH". Static storage. */
KESTREL_API const char* kestrel_version(void);

/* Element types; the values are ONNX's TensorProto data types. */
typedef enum kestrel_dtype_t {
  KESTREL_DTYPE_UNDEFINED = 0,
  KESTREL_DTYPE_FLOAT32 = 1,
  KESTREL_DTYPE_UINT8 = 2,
  KESTREL_DTYPE_INT8 = 3,
  KESTREL_DTYPE_UINT16 = 4,
  KESTREL_DTYPE_INT16 = 5,
  KESTREL_DTYPE_INT32 = 6,
  KESTREL_DTYPE_INT64 = 7,
  KESTREL_DTYPE_BOOL = 9,
  KESTREL_DTYPE_FLOAT16 = 10,
  KESTREL_DTYPE_FLOAT64 = 11,
  KESTREL_DTYPE_UINT32 = 12,
  KESTREL_DTYPE_UINT64 = 13
} kestrel_dtype_t;

/* "float32", "uint8", ... (numpy's names); "undefined" for others. Static storage. */
KESTREL_API const char* kestrel_dtype_name(kestrel_dtype_t dtype);
/* Bytes per element; 0 for KESTREL_DTYPE_UNDEFINED and unknown values. */
KESTREL_API size_t kestrel_dtype_size(kestrel_dtype_t dtype);

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

/* A loaded .kestrel model: its graph and weights, shared read-only by every
 * session created from it. */
typedef struct kestrel_model kestrel_model_t;

/* Maps the file read-only (no copy of the weights: every session of this model
 * uses the mapping in place) and validates it, including that this CPU has the
 * instruction set the weights were packed for. *out receives a new model to
 * destroy with kestrel_model_destroy. Errors: KESTREL_NOT_FOUND (no such
 * file), KESTREL_DATA_LOSS (corrupted), KESTREL_UNIMPLEMENTED (an ISA this
 * CPU lacks), KESTREL_INVALID_ARGUMENT. */
KESTREL_API kestrel_status_t kestrel_model_load(const char* path, kestrel_model_t** out);

/* Loads a model from the bytes of a .kestrel file in memory. The library
 * COPIES the bytes once (into 64-byte-aligned memory the model owns), so the
 * caller may free `data` as soon as this returns. */
KESTREL_API kestrel_status_t kestrel_model_load_buffer(const void* data, size_t size, kestrel_model_t** out);

/* Frees the model. Sessions created from it keep what they need and stay
 * usable; the memory is released when the last of them is destroyed. */
KESTREL_API void kestrel_model_destroy(kestrel_model_t* model);

KESTREL_API kestrel_status_t kestrel_model_input_count(const kestrel_model_t* model, size_t* count);
KESTREL_API kestrel_status_t kestrel_model_output_count(const kestrel_model_t* model, size_t* count);

/* One input or output as the model was compiled for it. Models run at fixed
 * shapes: `dims` are the shape to feed (re-convert for another shape). */
typedef struct kestrel_tensor_info_t {
  const char* name; /* owned by the model */
  kestrel_dtype_t dtype;
  const int64_t* dims; /* `rank` entries, owned by the model; NULL when rank is 0 */
  size_t rank;
  size_t bytes; /* dense row-major size: product(dims) * kestrel_dtype_size(dtype) */
} kestrel_tensor_info_t;

/* Input / output `index` (0 <= index < count, in the model's order). */
KESTREL_API kestrel_status_t kestrel_model_input_info(const kestrel_model_t* model, size_t index,
                                                      kestrel_tensor_info_t* info);
KESTREL_API kestrel_status_t kestrel_model_output_info(const kestrel_model_t* model, size_t index,
                                                       kestrel_tensor_info_t* info);

/* The index of the input / output called `name`; KESTREL_NOT_FOUND if none is. */
KESTREL_API kestrel_status_t kestrel_model_find_input(const kestrel_model_t* model, const char* name, size_t* index);
KESTREL_API kestrel_status_t kestrel_model_find_output(const kestrel_model_t* model, const char* name, size_t* index);

/* Variable batch. A model converted with `kestrel convert --max-batch N`
 * runs any batch 1..N without reconversion: *max_batch is N, the dims above
 * give the shapes at batch N, and kestrel_session_run takes inputs and
 * outputs whose dim 0 is the batch b (1 <= b <= N, the same b for all of
 * them; the other dims as compiled). *max_batch is 0 for a model compiled for
 * one shape, which runs only at its dims. */
KESTREL_API kestrel_status_t kestrel_model_max_batch(const kestrel_model_t* model, int64_t* max_batch);

/* Quantization of an input or output: real = scale * (q - zero_point).
 * quantized == 0 means the tensor is not quantized (e.g. float32): then count
 * is 0 and the arrays are NULL. Otherwise count is 1 (per tensor) or the size
 * of dims[axis] (one scale and zero point per slice along `axis`). */
typedef struct kestrel_quant_info_t {
  int quantized;
  size_t count;
  const float* scales;        /* `count` entries, owned by the model */
  const int64_t* zero_points; /* `count` entries (0 for symmetric), owned by the model */
  int64_t axis;               /* meaningful when count > 1 */
} kestrel_quant_info_t;

KESTREL_API kestrel_status_t kestrel_model_input_quant(const kestrel_model_t* model, size_t index,
                                                       kestrel_quant_info_t* quant);
KESTREL_API kestrel_status_t kestrel_model_output_quant(const kestrel_model_t* model, size_t index,
                                                        kestrel_quant_info_t* quant);

/* Model metadata, key -> value. Keys include "precision" ("fp32" / "int8"),
 * "isa" (what the weights were packed for), "producer", "kestrel_version",
 * "source_model", "created"; models may carry more. *value is owned by the
 * model. KESTREL_NOT_FOUND (naming the keys present) when the key is absent. */
KESTREL_API kestrel_status_t kestrel_model_metadata(const kestrel_model_t* model, const char* key, const char** value);
/* Enumeration: entries 0 <= index < count, in file order ("isa" last). */
KESTREL_API kestrel_status_t kestrel_model_metadata_count(const kestrel_model_t* model, size_t* count);
KESTREL_API kestrel_status_t kestrel_model_metadata_entry(const kestrel_model_t* model, size_t index, const char** key,
                                                          const char** value);

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */
/* ------------------------------------------------------------------------ */

/* Session options; a plain value, copied by kestrel_session_create. */
typedef struct kestrel_session_options kestrel_session_options_t;

/* Defaults: threads 0 (the OpenMP default: all cores, or OMP_NUM_THREADS),
 * pin_threads 0. */
KESTREL_API kestrel_status_t kestrel_session_options_create(kestrel_session_options_t** out);
KESTREL_API void kestrel_session_options_destroy(kestrel_session_options_t* options);
/* Worker threads of each run (0: the OpenMP default). Set by the thread that
 * runs, before each run, so sessions on different threads may differ. With
 * several sessions running at once, give each cores / sessions threads
 * (docs/api.md, "Threads"). */
KESTREL_API kestrel_status_t kestrel_session_options_set_threads(kestrel_session_options_t* options, int threads);
/* Nonzero: kestrel_session_create pins the OpenMP worker threads of the
 * CALLING thread to one core each, and pins the calling thread itself to the
 * first core it may use — a process-visible side effect (threads it creates
 * later inherit that affinity), and pinning helps only runs made from that
 * same thread. Off by default for that reason; measured in docs/api.md. */
KESTREL_API kestrel_status_t kestrel_session_options_set_pin_threads(kestrel_session_options_t* options,
                                                                     int pin_threads);
/* The largest activation arena a session may allocate, in bytes: a model
 * whose memory plan needs more is refused by kestrel_session_create
 * (KESTREL_INVALID_ARGUMENT, naming both sizes) instead of exhausting memory.
 * 0 (the default): half the machine's physical memory, at least 1 GiB, as
 * `kestrel convert --max-arena-bytes` (docs/api.md). Negative: refused. */
KESTREL_API kestrel_status_t kestrel_session_options_set_max_arena_bytes(kestrel_session_options_t* options,
                                                                         int64_t max_arena_bytes);

/* One execution context of a model: its own activation arena and its own
 * input and output buffers. Creating one compiles the model's kernels. */
typedef struct kestrel_session kestrel_session_t;

/* `options` may be NULL (the defaults). The session keeps the model's graph
 * and weights alive; the model may be destroyed first. Thread-safe with
 * respect to `model`: many threads may create sessions from one model. */
KESTREL_API kestrel_status_t kestrel_session_create(const kestrel_model_t* model,
                                                    const kestrel_session_options_t* options, kestrel_session_t** out);
KESTREL_API void kestrel_session_destroy(kestrel_session_t* session);

/* A caller-owned tensor: a description of the caller's buffer, not a copy. */
typedef struct kestrel_tensor_t {
  const char* name;      /* the model's input/output name; NULL: the i-th in model order */
  kestrel_dtype_t dtype; /* must equal the model's */
  const int64_t* dims;   /* must equal the model's dims (as compiled; dim 0 may be any batch 1..N for a
                            variable-batch model, see kestrel_model_max_batch) */
  size_t rank;
  void* data;   /* read for inputs, written for outputs */
  size_t bytes; /* must equal product(dims) * kestrel_dtype_size(dtype) */
} kestrel_tensor_t;

/* Runs the model on caller-owned buffers. `inputs` must give every input
 * exactly once (any order; by name, or by position with name NULL).
 * `outputs` names the outputs wanted (0..all of them, each at most once); the
 * others stay readable through kestrel_session_output_buffer. Everything is
 * checked before anything runs: KESTREL_NOT_FOUND for an unknown name,
 * KESTREL_INVALID_ARGUMENT for a missing or repeated tensor, a wrong dtype,
 * dims or byte count, or a NULL data pointer.
 *
 * Copies: the session computes into its own buffers, so each input is copied
 * in with one memcpy and each requested output copied out with one memcpy.
 * There is no copy for a tensor whose `data` IS the session's own buffer
 * (kestrel_session_input_buffer / kestrel_session_output_buffer): that is the
 * zero-copy path. Inputs and outputs must not overlap each other.
 *
 * Not thread-safe for one session (see the conventions above). */
KESTREL_API kestrel_status_t kestrel_session_run(kestrel_session_t* session, const kestrel_tensor_t* inputs,
                                                 size_t n_inputs, kestrel_tensor_t* outputs, size_t n_outputs);

/* The zero-copy path: fill the session-owned input buffers
 * (kestrel_session_input_buffer), call kestrel_session_run_simple, read the
 * session-owned output buffers (kestrel_session_output_buffer). */
KESTREL_API kestrel_status_t kestrel_session_run_simple(kestrel_session_t* session);

/* The zero-copy path at batch b of a variable-batch model: runs on the
 * leading b items of the session-owned buffers (b = N is
 * kestrel_session_run_simple). KESTREL_INVALID_ARGUMENT for b outside 1..N,
 * or b != the compiled batch for a fixed-shape model. */
KESTREL_API kestrel_status_t kestrel_session_run_batch(kestrel_session_t* session, int64_t batch);

/* The session-owned buffer of input `index`: *data (64-byte aligned) holds
 * *bytes bytes laid out as kestrel_model_input_info says. Owned by the
 * session; valid until it is destroyed; keeps its contents between runs. */
KESTREL_API kestrel_status_t kestrel_session_input_buffer(kestrel_session_t* session, size_t index, void** data,
                                                          size_t* bytes);
/* The session-owned buffer of output `index`, as kestrel_model_output_info
 * describes it. Owned by the session; its contents are those of the last run
 * and are overwritten by the next run. */
KESTREL_API kestrel_status_t kestrel_session_output_buffer(const kestrel_session_t* session, size_t index,
                                                           const void** data, size_t* bytes);

/* ------------------------------------------------------------------------ */
/* Conversion: ONNX -> .kestrel (what `kestrel convert` does)                */
/* ------------------------------------------------------------------------ */

typedef struct kestrel_convert_options kestrel_convert_options_t;

/* A new options object with the defaults of `kestrel convert`. String setters
 * copy their argument; setters that parse (input shape, precision, method)
 * reject bad values at once with KESTREL_INVALID_ARGUMENT. */
KESTREL_API kestrel_status_t kestrel_convert_options_create(kestrel_convert_options_t** out);
KESTREL_API void kestrel_convert_options_destroy(kestrel_convert_options_t* options);

/* Required: the source .onnx and the .kestrel to write (atomically). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_model(kestrel_convert_options_t* options, const char* path);
KESTREL_API kestrel_status_t kestrel_convert_options_set_output(kestrel_convert_options_t* options, const char* path);
/* "input:1,3,224,224" or "a:1,3;b:1,10"; dynamic dims not named become 1. */
KESTREL_API kestrel_status_t kestrel_convert_options_set_input_shape(kestrel_convert_options_t* options,
                                                                     const char* spec);
/* "fp32" (default) or "int8" (post-training quantization; needs calibration
 * data, a calibration callback, or a model that is already quantized). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_precision(kestrel_convert_options_t* options,
                                                                   const char* precision);
/* A variable-batch model: compiled at batch N, runs every batch 1..N
 * (kestrel_model_max_batch). Dim 0 of the inputs must be dynamic in the ONNX
 * model. 0 (the default): a model for one batch. At most 4096. */
KESTREL_API kestrel_status_t kestrel_convert_options_set_max_batch(kestrel_convert_options_t* options,
                                                                   int64_t max_batch);
/* INT8 calibration from disk: an image folder, an IDX image file (gzipped or
 * not) or a .npy float32 [N, ...] of ready inputs; images need a
 * preprocessing spec (JSON, docs/preprocessing.md). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_calibration_data(kestrel_convert_options_t* options,
                                                                          const char* path);
KESTREL_API kestrel_status_t kestrel_convert_options_set_preprocess(kestrel_convert_options_t* options,
                                                                    const char* path);
/* Use the first `count` images (0: the quant config's count, else 512). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_calibration_count(kestrel_convert_options_t* options,
                                                                           int64_t count);
/* Images per calibration run, for calibration data from disk (default 0: the
 * model's batch when it is fixed, else 16). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_calibration_batch(kestrel_convert_options_t* options,
                                                                           int64_t batch);
/* "minmax", "percentile" (default), "entropy" or "mse". */
KESTREL_API kestrel_status_t kestrel_convert_options_set_calibration_method(kestrel_convert_options_t* options,
                                                                            const char* method);
/* For "percentile": the percentile kept, in (0, 100] (0: the default, 99.99). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_percentile(kestrel_convert_options_t* options,
                                                                    double percentile);
/* A quantization config (JSON, docs/quantization.md). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_quant_config(kestrel_convert_options_t* options,
                                                                      const char* path);
/* Threads for calibration (0: all cores). */
KESTREL_API kestrel_status_t kestrel_convert_options_set_threads(kestrel_convert_options_t* options, int threads);

/* Caller-provided calibration batches, instead of calibration data on disk.
 * Called repeatedly on the thread that calls kestrel_convert, with `batch`
 * pointing at a float32 buffer of the shape `dims` (the dims given to the
 * setter, e.g. {16, 1, 28, 28}; the library owns the buffer and the dims).
 * Fill the first rows (preprocessed model inputs) and return how many rows
 * are real: 1..dims[0] to continue, 0 when there are no more, a negative
 * value to fail the conversion (the status is KESTREL_INVALID_ARGUMENT).
 * `user` is passed through untouched. */
typedef int64_t (*kestrel_calibration_callback_t)(void* user, float* batch, const int64_t* dims, size_t rank);

/* `dims` (copied) is the shape of every batch: the model input's shape with
 * the batch size first. callback NULL removes a callback set before. */
KESTREL_API kestrel_status_t kestrel_convert_options_set_calibration_callback(kestrel_convert_options_t* options,
                                                                              kestrel_calibration_callback_t callback,
                                                                              void* user, const int64_t* dims,
                                                                              size_t rank);

/* Converts options' model into options' output. Blocking; runs calibration
 * for INT8 on the calling thread and its OpenMP workers. May be called from
 * any thread, alongside sessions running on others; the calling thread's CPU
 * affinity is the same after the call as before it. Errors name the model
 * and the node, tensor or file at fault. */
KESTREL_API kestrel_status_t kestrel_convert(const kestrel_convert_options_t* options);

/* ---- Images ---------------------------------------------------------------
 * The input pipeline of `kestrel eval` and calibration: decodes a PNG or JPEG
 * file and preprocesses it as the JSON spec at `preprocess_path` says
 * (docs/preprocessing.md: resize, crop, colour, scale, mean/std, layout) into
 * `dst`, float32, [C, H, W] (or [H, W, C] for an NHWC spec). `dst_bytes`
 * must be exactly the preprocessed image's size; when `dims` is not NULL it
 * receives the 3 dims. With `dst` NULL (and `dims` not NULL) only the dims
 * are computed: the size query. Several images of a batch go one after
 * another in one buffer.
 * Thread safety: may be called from any thread. */
KESTREL_API kestrel_status_t kestrel_preprocess_image(const char* preprocess_path, const char* image_path, float* dst,
                                                      size_t dst_bytes, int64_t dims[3]);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* NOLINTEND(modernize-use-using,modernize-deprecated-headers) */
#endif /* KESTREL_KESTREL_H_ */
