// Bad-input catalogue: tensors (.npy), IDX datasets, images, image folders,
// preprocessing specs and the dataset flags of eval and run.
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bad_input_catalogue.h"
#include "test_images.h"
#include "test_paths.h"

namespace kestrel::testing {

// Byte builders for hostile files, shared with io_hardening_test.cc (which
// declares them): the tests write every input themselves.
namespace io_files {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

std::string random_bytes(size_t count, uint32_t seed) {
  std::string bytes(count, '\0');
  uint32_t state = seed * 2654435761u + 1;
  for (char& c : bytes) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<char>(state >> 24);
  }
  return bytes;
}

// A .npy file with `header_length` in the length field of `version` (1: 2
// bytes, 2 or 3: 4 bytes), whatever `header` really is.
std::string npy_raw(int version, uint32_t header_length, const std::string& header, const std::string& data = "") {
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(version);
  bytes += '\0';
  const int length_bytes = version == 1 ? 2 : 4;
  for (int i = 0; i < length_bytes; ++i) bytes += static_cast<char>((header_length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

// A well-formed .npy container (v1, header padded to 64 bytes) around any header text.
std::string npy_bytes(const std::string& dict, const std::string& data, int version = 1) {
  const size_t preamble = version == 1 ? 10 : 12;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  return npy_raw(version, static_cast<uint32_t>(header.size()), header, data);
}

std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t dim : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((dim >> shift) & 0xff);
  }
  return bytes + data;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

std::string be32(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  return be32(static_cast<uint32_t>(data.size())) + body + be32(static_cast<uint32_t>(crc));
}

std::string zlib_compress(const std::string& raw) {
  uLongf size = compressBound(raw.size());
  std::string out(size, '\0');
  compress(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(raw.data()), raw.size());
  out.resize(size);
  return out;
}

std::string png_ihdr(uint32_t width, uint32_t height, int bit_depth, int color_type, bool interlaced) {
  return be32(width) + be32(height) +
         std::string{static_cast<char>(bit_depth), static_cast<char>(color_type), 0, 0, static_cast<char>(interlaced)};
}

// A PNG whose IDAT holds `zlib` (split into chunks of `idat_piece` bytes),
// with `extra` chunks between IHDR and IDAT (e.g. a PLTE).
std::string png_file(const std::string& ihdr, const std::string& zlib, const std::string& extra, size_t idat_piece) {
  std::string bytes = "\x89PNG\r\n\x1a\n" + png_chunk("IHDR", ihdr) + extra;
  for (size_t at = 0; at < zlib.size(); at += idat_piece) bytes += png_chunk("IDAT", zlib.substr(at, idat_piece));
  return bytes + png_chunk("IEND", "");
}

// A grey 8-bit PNG header of width x height with only `rows` rows of data.
std::string png_with_rows(uint32_t width, uint32_t height, uint32_t rows) {
  const std::string raw(static_cast<size_t>(rows) * (width + 1), '\0');
  return png_file(png_ihdr(width, height, 8, 0, false), zlib_compress(raw), "", 1 << 20);
}

// A width x height grey PNG whose image data inflates to far more than the
// header implies (a decompression bomb).
std::string png_bomb(uint32_t width, uint32_t height, size_t inflated) {
  z_stream stream{};
  deflateInit(&stream, Z_BEST_COMPRESSION);
  const std::string zeros(1 << 20, '\0');
  std::string zlib, piece(1 << 16, '\0');
  for (size_t done = 0; done < inflated; done += zeros.size()) {
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    stream.avail_in = static_cast<uInt>(zeros.size());
    const int flush = done + zeros.size() >= inflated ? Z_FINISH : Z_NO_FLUSH;
    do {
      stream.next_out = reinterpret_cast<Bytef*>(piece.data());
      stream.avail_out = static_cast<uInt>(piece.size());
      deflate(&stream, flush);
      zlib.append(piece.data(), piece.size() - stream.avail_out);
    } while (stream.avail_out == 0);
  }
  deflateEnd(&stream);
  return png_file(png_ihdr(width, height, 8, 0, false), zlib, "", 1 << 20);
}

// A 4x4 grey PNG whose zlib Adler-32 is wrong but whose chunk CRCs are right.
std::string damaged_adler_png() {
  std::string zlib = zlib_compress(std::string(4 * 5, '\x10'));
  zlib[zlib.size() - 1] ^= 0x5a;
  return png_file(png_ihdr(4, 4, 8, 0, false), zlib, "", 1 << 20);
}

// The start of a baseline grey JPEG: SOI and a frame header of height x width.
std::string jpeg_header(uint16_t height, uint16_t width) {
  return std::string{'\xff',
                     '\xd8',
                     '\xff',
                     '\xc0',
                     0,
                     11,
                     8,
                     static_cast<char>(height >> 8),
                     static_cast<char>(height & 0xff),
                     static_cast<char>(width >> 8),
                     static_cast<char>(width & 0xff),
                     1,
                     1,
                     0x11,
                     0};
}

}  // namespace io_files

namespace {

namespace fs = std::filesystem;
using namespace io_files;  // NOLINT: the builders are this file's vocabulary

std::string model() { return source_path("models/fmnist_cnn.onnx"); }
std::string spec() { return source_path("models/fmnist_cnn.preprocess.json"); }

// kestrel run on one tensor file for the model's one input.
std::string run_input(const std::string& dir, const std::string& file) {
  return "run --model " + model() + " --input " + dir + "/" + file + " --output-dir " + dir + "/out";
}

std::string run_image(const std::string& dir, const std::string& file, const std::string& preprocess = spec()) {
  return "run --model " + model() + " --image " + dir + "/" + file + " --preprocess " + preprocess;
}

std::string eval_idx(const std::string& images, const std::string& labels) {
  return "eval --model " + model() + " --preprocess " + spec() + " --dataset " + images + " --labels " + labels;
}

std::string eval_folder(const std::string& folder, const std::string& preprocess = spec()) {
  return "eval --model " + model() + " --preprocess " + preprocess + " --dataset " + folder;
}

// A small valid IDX pair: `count` 28x28 images and their labels.
void write_idx_pair(const std::string& dir, int count, uint8_t label = 3) {
  const auto n = static_cast<uint32_t>(count);
  write_file(dir + "/images.idx", idx_bytes({n, 28, 28}, std::string(static_cast<size_t>(count) * 28 * 28, '\x40')));
  write_file(dir + "/labels.idx", idx_bytes({n}, std::string(static_cast<size_t>(count), static_cast<char>(label))));
}

// An ImageFolder of `classes` class folders with one 28x28 grey PNG each.
std::string write_image_folder(const std::string& dir, int classes) {
  std::string root = dir + "/folder";
  for (int c = 0; c < classes; ++c) {
    const std::string cls = root + "/class" + std::to_string(100 + c);
    fs::create_directories(cls);
    write_png(cls + "/a.png", pattern_image(28, 28, 1, c));
  }
  return root;
}

std::string write_spec(const std::string& dir, const std::string& json) {
  write_file(dir + "/spec.json", json);
  return dir + "/spec.json";
}

// ---- .npy tensors ----
KESTREL_BAD_INPUTS({
    {.name = "NpyHugeShapeInSmallFile",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/big.npy",
                      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (700000, 1, 28, 28), }",
                                std::string(3000, '\0')));
           return run_input(dir, "big.npy");
         },
     .fragments = {"big.npy", "truncated", "2195200000 bytes"},
     .reason = "a header claiming far more data than the file holds is refused before allocating"},
    {.name = "NpyV2HeaderLengthBeyondFile",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/hdr.npy",
                      npy_raw(2, 0xfffffff0u, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"));
           return run_input(dir, "hdr.npy");
         },
     .fragments = {"hdr.npy", "truncated .npy header", "4294967280"},
     .reason = "a 4-byte header length is checked against the file before allocating"},
    {.name = "NpyShapeProductWraps",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/wrap.npy",
                      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387905, 1, 28, 28), }",
                                std::string(3136, '\0')));
           return "run --reference --model " + model() + " --input " + dir + "/wrap.npy --output-dir " + dir + "/out";
         },
     .fragments = {"wrap.npy", "too large"},
     .reason = "a shape whose product wraps mod 2^64 (was a SIGSEGV in run --reference)"},
    {.name = "NpyWrappingShapeAsCalibrationData",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/calib.npy",
                      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387905, 1, 28, 28), }",
                                std::string(3136, '\0')));
           return "convert --model " + model() + " --output " + dir + "/m.kestrel --input-shape input:1,1,28,28 " +
                  "--precision int8 --calibration-data " + dir + "/calib.npy --quiet";
         },
     .fragments = {"calib.npy", "too large"},
     .reason = "calibration data with a wrapping shape (was a model calibrated on zeros)"},
    {.name = "NpyNegativeDimension",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/neg.npy",
                      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 784), }", ""));
           return run_input(dir, "neg.npy");
         },
     .fragments = {"neg.npy", "not a non-negative integer"},
     .reason = "a negative dimension"},
    {.name = "NpyNonNumericDimension",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/text.npy",
                      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (two, 784), }", ""));
           return run_input(dir, "text.npy");
         },
     .fragments = {"text.npy", "not a non-negative integer"},
     .reason = "a dimension that is not a number (was skipped by a digit regex)"},
    {.name = "NpyDuplicateKey",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/dup.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), "
                                                  "'shape': (2,), }",
                                                  std::string(3136, '\0')));
           return run_input(dir, "dup.npy");
         },
     .fragments = {"dup.npy", "'shape' twice"},
     .reason = "a header key given twice"},
    {.name = "NpyDescrInsideAnotherValue",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/inner.npy",
                      npy_bytes("{'fortran_order': False, 'shape': (1, 1, 28, 28), 'note': \"'descr': '<f4'\", }",
                                std::string(3136, '\0')));
           return run_input(dir, "inner.npy");
         },
     .fragments = {"inner.npy", "unknown key 'note'"},
     .reason = "the header is parsed as a dict, not searched with a regex"},
    {.name = "NpyUnknownDtype",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/c8.npy",
                      npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0')));
           return run_input(dir, "c8.npy");
         },
     .fragments = {"c8.npy", "'<c8'", "not supported"},
     .reason = "an element type Kestrel does not have"},
    {.name = "NpyTrailingBytes",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/long.npy",
                      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 27), }",
                                std::string(3136, '\0')));
           return run_input(dir, "long.npy");
         },
     .fragments = {"long.npy", "bytes after the data"},
     .reason = "a shape that does not account for the whole file"},
    {.name = "NpyV1HeaderLengthBeyondFile",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/short.npy", npy_raw(1, 0xff00, "{'descr': '<f4', "));
           return run_input(dir, "short.npy");
         },
     .fragments = {"short.npy", "truncated .npy header", "65280"},
     .reason = "a header cut off"},
    {.name = "NpyBigEndian",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/be.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }",
                                                 std::string(3136, '\0')));
           return run_input(dir, "be.npy");
         },
     .fragments = {"be.npy", "big-endian"},
     .reason = "big-endian data would be read as garbage"},
    {.name = "NpyFortranOrder",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/f.npy", npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1, 28, 28), }",
                                                std::string(3136, '\0')));
           return run_input(dir, "f.npy");
         },
     .fragments = {"f.npy", "Fortran-order"},
     .reason = "column-major data would be read transposed"},
    {.name = "NpyFifo",
     .make =
         [](const std::string& dir) {
           mkfifo((dir + "/fifo.npy").c_str(), 0600);
           return run_input(dir, "fifo.npy");
         },
     .fragments = {"fifo.npy", "FIFO"},
     .reason = "a FIFO is refused, not read (or waited on) forever"},
    {.name = "NpyDevZero",
     .make =
         [](const std::string& dir) {
           fs::create_symlink("/dev/zero", dir + "/zero.npy");
           return run_input(dir, "zero.npy");
         },
     .fragments = {"zero.npy", "character device"},
     .reason = "a device is refused, not read forever"},
    {.name = "NpyDirectory",
     .make =
         [](const std::string& dir) {
           fs::create_directories(dir + "/folder.npy");
           return run_input(dir, "folder.npy");
         },
     .fragments = {"folder.npy", "is a directory"},
     .reason = "a directory is named as one, not reported as 'too short'"},
});

// ---- IDX datasets ----
KESTREL_BAD_INPUTS({
    {.name = "IdxHugeDimsInSmallFile",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_file(dir + "/big.idx", idx_bytes({700000, 28, 28}, std::string(100, '\0')));
           return eval_idx(dir + "/big.idx", dir + "/labels.idx");
         },
     .fragments = {"big.idx", "truncated", "548800000"},
     .reason = "IDX dims product checked against the bytes present"},
    {.name = "IdxDimsProductOverflows",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_file(dir + "/wrap.idx", idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, ""));
           return eval_idx(dir + "/wrap.idx", dir + "/labels.idx");
         },
     .fragments = {"wrap.idx", "too large"},
     .reason = "IDX dims whose product overflows int64"},
    {.name = "IdxGzClaimsMoreThanItCanHold",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_gzip(dir + "/big.idx.gz", idx_bytes({60000, 280, 280}, std::string(1000, '\0')));
           return eval_idx(dir + "/big.idx.gz", dir + "/labels.idx");
         },
     .fragments = {"big.idx.gz", "truncated", "more than a gzip file of"},
     .reason = "a gzip file cannot expand more than 1032:1: refused before reading"},
    {.name = "IdxGzStreamEndsEarly",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_gzip(dir + "/short.idx.gz", idx_bytes({100, 28, 28}, random_bytes(50 * 28 * 28, 1)));
           return eval_idx(dir + "/short.idx.gz", dir + "/labels.idx");
         },
     .fragments = {"short.idx.gz", "truncated"},
     .reason = "gzip data that ends before the claimed size"},
    {.name = "IdxGzFileCutOff",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_gzip(dir + "/cut.idx.gz", idx_bytes({20, 28, 28}, random_bytes(20 * 28 * 28, 2)));
           fs::resize_file(dir + "/cut.idx.gz", fs::file_size(dir + "/cut.idx.gz") / 2);
           return eval_idx(dir + "/cut.idx.gz", dir + "/labels.idx");
         },
     .fragments = {"cut.idx.gz", "truncated"},
     .reason = "a gzip file cut in half"},
    {.name = "IdxGzBadCrc",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_gzip(dir + "/crc.idx.gz", idx_bytes({2}, std::string(2, '\3')));
           std::string bytes = read_file(dir + "/crc.idx.gz");
           bytes[bytes.size() - 8] ^= 0x55;  // the CRC-32 in the gzip trailer
           write_file(dir + "/crc.idx.gz", bytes);
           return eval_idx(dir + "/images.idx", dir + "/crc.idx.gz");
         },
     .fragments = {"crc.idx.gz", "damaged gzip data", "checksum"},
     .reason = "the gzip CRC-32 is checked"},
    {.name = "IdxDirectoryAsLabels",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           fs::create_directories(dir + "/labels_dir");
           return eval_idx(dir + "/images.idx", dir + "/labels_dir");
         },
     .fragments = {"labels_dir", "is a directory"},
     .reason = "a directory as the labels file"},
    {.name = "IdxDevZeroAsImages",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           fs::create_symlink("/dev/zero", dir + "/zero.idx");
           return eval_idx(dir + "/zero.idx", dir + "/labels.idx");
         },
     .fragments = {"zero.idx", "character device"},
     .reason = "a device as the dataset"},
    {.name = "IdxLabelOutsideModelClasses",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 4, 12);
           return eval_idx(dir + "/images.idx", dir + "/labels.idx");
         },
     .fragments = {"labels.idx", "label 12", "10 classes"},
     .reason = "a label the model cannot predict"},
    {.name = "IdxTrailingBytes",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_file(dir + "/long.idx", idx_bytes({2, 28, 27}, std::string(2 * 28 * 28, '\0')));
           return eval_idx(dir + "/long.idx", dir + "/labels.idx");
         },
     .fragments = {"long.idx", "56 bytes after"},
     .reason = "dims that do not account for the whole file"},
    {.name = "IdxTextFile",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_file(dir + "/notes.txt", "these are not images\n");
           return eval_idx(dir + "/notes.txt", dir + "/labels.idx");
         },
     .fragments = {"notes.txt", "not an IDX file"},
     .reason = "a file of another kind as the dataset"},
    {.name = "IdxImagesAsLabels",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           return eval_idx(dir + "/images.idx", dir + "/images.idx");
         },
     .fragments = {"images.idx", "not an IDX label file"},
     .reason = "an image file passed as labels"},
});

// ---- eval and run flags ----
KESTREL_BAD_INPUTS({
    {.name = "EvalNegativeLimit",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           return eval_idx(dir + "/images.idx", dir + "/labels.idx") + " --limit -5";
         },
     .exit_code = 2,
     .fragments = {"--limit", "positive number of images", "-5"},
     .reason = "a negative --limit was taken as 'all'"},
    {.name = "EvalLabelsWithImageFolder",
     .make =
         [](const std::string& dir) {
           const std::string folder = write_image_folder(dir, 2);
           write_idx_pair(dir, 2);
           return eval_folder(folder) + " --labels " + dir + "/labels.idx";
         },
     .fragments = {"--labels applies to IDX datasets", "folder"},
     .reason = "--labels was ignored with an image folder"},
    {.name = "EvalMissingClassNames",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           return eval_idx(dir + "/images.idx", dir + "/labels.idx") + " --class-names " + dir + "/absent.txt";
         },
     .fragments = {"absent.txt", "no such file"},
     .reason = "a missing --class-names file"},
    {.name = "EvalClassNamesCountMismatch",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           write_file(dir + "/names.txt", "a\nb\nc\n");
           return eval_idx(dir + "/images.idx", dir + "/labels.idx") + " --class-names " + dir + "/names.txt";
         },
     .fragments = {"names.txt", "3 class names", "10 classes"},
     .reason = "class names that do not match the model's classes"},
    {.name = "EvalImageFolderMoreClassesThanModel",
     .make = [](const std::string& dir) { return eval_folder(write_image_folder(dir, 12)); },
     .fragments = {"folder", "12 class folders", "10 classes"},
     .reason = "an ImageFolder with more classes than the model has outputs"},
    {.name = "EvalZeroLimit",
     .make =
         [](const std::string& dir) {
           write_idx_pair(dir, 2);
           return eval_idx(dir + "/images.idx", dir + "/labels.idx") + " --limit 0";
         },
     .exit_code = 2,
     .fragments = {"--limit", "positive number of images", "'0'"},
     .reason = "--limit 0 evaluates nothing"},
    {.name = "EvalLabelsTxtLabelOutsideModelClasses",
     .make =
         [](const std::string& dir) {
           fs::create_directories(dir + "/flat");
           write_png(dir + "/flat/a.png", pattern_image(28, 28, 1, 1));
           write_png(dir + "/flat/b.png", pattern_image(28, 28, 1, 2));
           write_file(dir + "/flat/labels.txt", "a.png 3\nb.png 99\n");
           return eval_folder(dir + "/flat");
         },
     .fragments = {"flat", "label 99", "b.png", "10 classes"},
     .reason = "a labels.txt label the model cannot predict"},
    {.name = "RunInputNotAModelInput",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/a.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }",
                                                std::string(3136, '\0')));
           return "run --reference --model " + model() + " --input bogus=" + dir + "/a.npy --output-dir " + dir +
                  "/out";
         },
     .fragments = {"'bogus'", "not an input of the model"},
     .reason = "an input name the model does not have (also with --reference)"},
    {.name = "RunClassNamesWithTensorInput",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/a.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }",
                                                std::string(3136, '\0')));
           write_file(dir + "/names.txt", "a\n");
           return run_input(dir, "a.npy") + " --class-names " + dir + "/names.txt";
         },
     .fragments = {"--class-names applies to --image"},
     .reason = "--class-names was ignored without --image"},
    {.name = "RunClassNamesIsDirectory",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           fs::create_directories(dir + "/names");
           return run_image(dir, "ok.png") + " --class-names " + dir + "/names";
         },
     .fragments = {"names", "is a directory"},
     .reason = "a directory as the class-names file read as no names"},
    {.name = "RunInputGivenTwice",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/a.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }",
                                                std::string(3136, '\0')));
           return "run --model " + model() + " --input input=" + dir + "/a.npy --input " + dir +
                  "/a.npy --output-dir " + dir + "/out";
         },
     .fragments = {"'input'", "given twice"},
     .reason = "two --input for one name (the last one silently won)"},
    {.name = "RunMissingClassNames",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png") + " --class-names " + dir + "/absent.txt";
         },
     .fragments = {"absent.txt", "no such file"},
     .reason = "a missing --class-names file was ignored by run"},
});

// ---- images and image folders ----
KESTREL_BAD_INPUTS({
    {.name = "PngHugeDimensions",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/huge.png", png_with_rows(16384, 16384, 4));
           return run_image(dir, "huge.png");
         },
     .fragments = {"huge.png", "16384 pixels wide and 16384 high", "larger than the limit"},
     .reason = "the size is checked from the header before decoding (was 3.3 GB and 12 s)"},
    {.name = "JpegHugeDimensions",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/huge.jpg", jpeg_header(30000, 20000));
           return run_image(dir, "huge.jpg");
         },
     .fragments = {"huge.jpg", "20000 pixels wide and 30000 high", "larger than the limit"},
     .reason = "a JPEG's size is checked from its frame header before decoding"},
    {.name = "PngBadChunkCrc",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/crc.png", pattern_image(28, 28, 1, 3));
           std::string bytes = read_file(dir + "/crc.png");
           bytes[bytes.find("IDAT") + 20] ^= 0x01;  // one bit of the image data
           write_file(dir + "/crc.png", bytes);
           return run_image(dir, "crc.png");
         },
     .fragments = {"crc.png", "CRC mismatch", "IDAT"},
     .reason = "a damaged PNG decoded to wrong pixels (stb_image skips CRCs)"},
    {.name = "PngBadAdler32",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/adler.png", damaged_adler_png());
           return run_image(dir, "adler.png");
         },
     .fragments = {"adler.png", "Adler-32 checksum"},
     .reason = "a zlib stream with a wrong Adler-32 and a right chunk CRC"},
    {.name = "PngTruncated",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/cut.png", pattern_image(28, 28, 1, 4));
           fs::resize_file(dir + "/cut.png", fs::file_size(dir + "/cut.png") - 30);
           return run_image(dir, "cut.png");
         },
     .fragments = {"cut.png", "truncated"},
     .reason = "a PNG cut off before its end"},
    {.name = "JpegTruncated",
     .make =
         [](const std::string& dir) {
           write_jpeg(dir + "/cut.jpg", pattern_image(28, 28, 1, 4));
           fs::resize_file(dir + "/cut.jpg", fs::file_size(dir + "/cut.jpg") * 2 / 3);
           return run_image(dir, "cut.jpg");
         },
     .fragments = {"cut.jpg", "truncated JPEG"},
     .reason = "stb_image decodes a JPEG cut short with zeros for the missing part"},
    {.name = "JpegHuffmanTableOverflow",
     .make =
         [](const std::string& dir) {
           write_jpeg(dir + "/dht.jpg", pattern_image(28, 28, 1, 4));
           std::string bytes = read_file(dir + "/dht.jpg");
           const size_t dht = bytes.find("\xff\xc4");
           bytes[dht + 5 + 15] = static_cast<char>(0xff);  // a table of more than 256 codes
           bytes[dht + 5 + 14] = static_cast<char>(0xff);
           write_file(dir + "/dht.jpg", bytes);
           return run_image(dir, "dht.jpg");
         },
     .fragments = {"dht.jpg", "Huffman table", "more than 256"},
     .reason = "stb_image (Debian 0.0~git20220908) writes out of bounds on a DHT of more than 256 codes"},
    {.name = "PngDecompressionBomb",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/bomb.png", png_bomb(28, 28, size_t{256} << 20));
           return run_image(dir, "bomb.png");
         },
     .fragments = {"bomb.png", "inflates to more than the 812 bytes"},
     .reason = "image data that inflates far beyond the header's size is stopped early"},
    {.name = "PngNotAnImage",
     .make =
         [](const std::string& dir) {
           write_file(dir + "/text.png", "just text\n");
           return run_image(dir, "text.png");
         },
     .fragments = {"text.png", "cannot decode"},
     .reason = "a file of another kind named .png"},
    {.name = "CalibrationFolderWithDanglingLink",
     .make =
         [](const std::string& dir) {
           fs::create_directories(dir + "/calib");
           write_png(dir + "/calib/a.png", pattern_image(28, 28, 1, 1));
           fs::create_symlink(dir + "/gone.png", dir + "/calib/b.png");
           return "convert --model " + model() + " --output " + dir + "/m.kestrel --input-shape input:1,1,28,28 " +
                  "--precision int8 --preprocess " + spec() + " --calibration-data " + dir + "/calib --quiet";
         },
     .fragments = {"b.png", "dangling symbolic link"},
     .reason = "a calibration folder with a broken link calibrated on fewer images"},
    {.name = "ImageFifo",
     .make =
         [](const std::string& dir) {
           mkfifo((dir + "/fifo.png").c_str(), 0600);
           return run_image(dir, "fifo.png");
         },
     .fragments = {"fifo.png", "FIFO"},
     .reason = "a FIFO named as an image"},
    {.name = "ImageDevZero",
     .make =
         [](const std::string& dir) {
           fs::create_symlink("/dev/zero", dir + "/zero.png");
           return run_image(dir, "zero.png");
         },
     .fragments = {"zero.png", "character device"},
     .reason = "a device named as an image"},
    {.name = "ImageFolderDanglingSymlink",
     .make =
         [](const std::string& dir) {
           const std::string folder = write_image_folder(dir, 2);
           fs::create_symlink(dir + "/nowhere.png", folder + "/class100/gone.png");
           return eval_folder(folder);
         },
     .fragments = {"gone.png", "dangling symbolic link"},
     .reason = "a dangling symlink was silently dropped from the dataset"},
    {.name = "ImageFolderLinkLoop",
     .make =
         [](const std::string& dir) {
           const std::string folder = write_image_folder(dir, 2);
           fs::create_directory_symlink("..", folder + "/class100/up");
           return eval_folder(folder);
         },
     .fragments = {"up", "a loop or a duplicate"},
     .reason = "a symlink loop in a dataset folder"},
    {.name = "ImageFolderFifoNamedPng",
     .make =
         [](const std::string& dir) {
           const std::string folder = write_image_folder(dir, 2);
           mkfifo((folder + "/class101/pipe.png").c_str(), 0600);
           return eval_folder(folder);
         },
     .fragments = {"pipe.png", "FIFO"},
     .reason = "an image name that is not a regular file was silently dropped"},
    {.name = "ImageFolderLabelsTxtIsDirectory",
     .make =
         [](const std::string& dir) {
           fs::create_directories(dir + "/flat/labels.txt");
           write_png(dir + "/flat/a.png", pattern_image(28, 28, 1, 1));
           return eval_folder(dir + "/flat");
         },
     .fragments = {"labels.txt", "is a directory"},
     .reason = "a labels.txt that is not a file was taken as absent"},
});

// ---- preprocessing specs ----
KESTREL_BAD_INPUTS({
    {.name = "SpecDuplicateKey",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"scale": 0.0039, "std": [0.35], "std": [0.0001]})"));
         },
     .fragments = {"spec.json", "'std' is given twice"},
     .reason = "nlohmann silently keeps one of two equal keys"},
    {.name = "SpecNestedDuplicateKey",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"resize": {"size": [28, 28], "size": [2, 2]}})"));
         },
     .fragments = {"spec.json", "'resize.size' is given twice"},
     .reason = "a duplicate key inside resize"},
    {.name = "SpecStdOverflowsFloat32",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"std": [1e39]})"));
         },
     .fragments = {"spec.json", "'std' value", "outside the range of float32"},
     .reason = "a std that is infinite as float32"},
    {.name = "SpecScaleOverflowsFloat32",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"scale": 1e300})"));
         },
     .fragments = {"spec.json", "'scale'", "outside the range of float32"},
     .reason = "a scale that is infinite as float32"},
    {.name = "SpecNegativeStd",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"std": [-0.5]})"));
         },
     .fragments = {"spec.json", "std values must be positive"},
     .reason = "a std that is not positive"},
    {.name = "SpecHugeResize",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"resize": {"size": [65536, 4096]}})"));
         },
     .fragments = {"spec.json", "resize.size", "at most 16384"},
     .reason = "a resize that allocated 2 GB"},
    {.name = "SpecHugeCenterCrop",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"center_crop": [16384, 16384]})"));
         },
     .fragments = {"spec.json", "center_crop", "pixels in all"},
     .reason = "a crop beyond the area limit"},
    {.name = "SpecShorterSideMakesHugeImage",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/tall.png", pattern_image(2000, 2, 1, 1));
           return run_image(dir, "tall.png", write_spec(dir, R"({"resize": {"shorter_side": 1000}})"));
         },
     .fragments = {"tall.png", "1000000x1000", "larger than the limit"},
     .reason = "a shorter_side resize whose longer side explodes, checked before allocating"},
    {.name = "SpecScaleIsAString",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"scale": "1/255"})"));
         },
     .fragments = {"spec.json", "'scale' must be a number"},
     .reason = "a value of the wrong type named plainly (not a nlohmann exception text)"},
    {.name = "SpecTinyStd",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           return run_image(dir, "ok.png", write_spec(dir, R"({"std": [1e-60]})"));
         },
     .fragments = {"spec.json", "std values must be positive"},
     .reason = "a std that rounds to 0 in float32"},
    {.name = "SpecFifo",
     .make =
         [](const std::string& dir) {
           write_png(dir + "/ok.png", pattern_image(28, 28, 1, 1));
           mkfifo((dir + "/spec.json").c_str(), 0600);
           return run_image(dir, "ok.png", dir + "/spec.json");
         },
     .fragments = {"spec.json", "FIFO"},
     .reason = "a FIFO as the spec"},
});

}  // namespace
}  // namespace kestrel::testing
