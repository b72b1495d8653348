// The input parsers (npy, IDX, PNG/JPEG, preprocessing specs, image folders)
// refuse hostile and damaged files with an error naming the file and the
// reason, before allocating from what a header claims, and still read every
// well-formed variant (the CLI side is in bad_inputs_io.cc).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "io/batch_loader.h"
#include "io/dataset.h"
#include "io/idx.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/preprocess.h"
#include "test_images.h"
#include "test_paths.h"

namespace kestrel::testing {

// Byte builders defined in bad_inputs_io.cc.
namespace io_files {
void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);
std::string random_bytes(size_t count, uint32_t seed);
std::string npy_raw(int version, uint32_t header_length, const std::string& header, const std::string& data = "");
std::string npy_bytes(const std::string& dict, const std::string& data, int version = 1);
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data);
void write_gzip(const std::string& path, const std::string& bytes);
std::string png_chunk(const std::string& type, const std::string& data);
std::string zlib_compress(const std::string& raw);
std::string png_ihdr(uint32_t width, uint32_t height, int bit_depth, int color_type, bool interlaced);
std::string png_file(const std::string& ihdr, const std::string& zlib, const std::string& extra, size_t idat_piece);
std::string png_with_rows(uint32_t width, uint32_t height, uint32_t rows);
std::string jpeg_header(uint16_t height, uint16_t width);
}  // namespace io_files

namespace {

namespace fs = std::filesystem;
using namespace io_files;  // NOLINT

template <typename T>
void expect_error(const StatusOr<T>& result, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(result.ok()) << "accepted; expected an error with '" << fragments.front() << "'";
  for (const auto& fragment : fragments) {
    EXPECT_NE(result.status().message().find(fragment), std::string::npos)
        << "missing '" << fragment << "' in: " << result.status().message();
  }
}

void expect_error(const Status& status, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(status.ok()) << "accepted; expected an error with '" << fragments.front() << "'";
  for (const auto& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos)
        << "missing '" << fragment << "' in: " << status.message();
  }
}

const char kF4Header[] = "{'descr': '<f4', 'fortran_order': False, 'shape': ";

std::string f4_dict(const std::string& shape) { return std::string(kF4Header) + shape + ", }"; }

// ---------------------------------------------------------------- .npy

TEST(IoHardeningNpy, ReadsWhatNumPyWrites) {
  const std::string dir = scratch_dir();
  const std::string four_floats(16, '\0');
  struct Case {
    std::string dict;
    int version;
    Shape shape;
  };
  const std::vector<Case> cases = {
      {f4_dict("(4,)"), 1, {4}},
      {f4_dict("(2, 2)"), 2, {2, 2}},
      {f4_dict("(1,2,2)"), 3, {1, 2, 2}},
      {"{\"descr\": \"<f4\", \"shape\": (4, ), \"fortran_order\": False}", 1, {4}},  // any key order, no trailing comma
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (4,), }", 1, {4}},  // Fortran order of one dim is C order
  };
  for (const auto& c : cases) {
    write_file(dir + "/a.npy", npy_bytes(c.dict, four_floats, c.version));
    auto tensor = read_npy(dir + "/a.npy");
    ASSERT_TRUE(tensor.ok()) << c.dict << ": " << tensor.status().message();
    EXPECT_EQ(tensor->shape(), c.shape) << c.dict;
  }
  write_file(dir + "/scalar.npy",
             npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", std::string(8, '\1')));
  auto scalar = read_npy(dir + "/scalar.npy");
  ASSERT_TRUE(scalar.ok()) << scalar.status().message();
  EXPECT_EQ(scalar->rank(), 0);
  write_file(dir + "/empty.npy", npy_bytes(f4_dict("(0, 28, 28)"), ""));
  ASSERT_TRUE(read_npy(dir + "/empty.npy").ok());
}

TEST(IoHardeningNpy, WriteReadRoundTrip) {
  const std::string dir = scratch_dir();
  Tensor tensor = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(write_npy(dir + "/t.npy", tensor).ok());
  auto back = read_npy(dir + "/t.npy");
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->shape(), (Shape{2, 3}));
  EXPECT_EQ(back->data<float>()[5], 6.0f);
}

TEST(IoHardeningNpy, HeaderClaimsAreCheckedBeforeAllocating) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/x.npy";
  // Each would allocate gigabytes (or wrap) if trusted; all fail at once.
  const auto start = std::chrono::steady_clock::now();
  write_file(path, npy_bytes(f4_dict("(700000, 1, 28, 28)"), std::string(3000, '\0')));
  expect_error(read_npy(path), {"x.npy", "truncated", "2195200000", "3000"});
  write_file(path, npy_raw(2, 0xfffffff0u, f4_dict("(1,)")));
  expect_error(read_npy(path), {"x.npy", "truncated .npy header", "4294967280"});
  write_file(path, npy_raw(1, 0xffff, std::string(0x10000, ' ')));  // fits, but not a dict
  expect_error(read_npy(path), {"x.npy", "does not start with '{'"});
  write_file(path, npy_bytes(f4_dict("(4611686018427387905, 1, 28, 28)"), std::string(3136, '\0')));
  expect_error(read_npy(path), {"x.npy", "too large"});
  write_file(path, npy_bytes(f4_dict("(4611686018427387904,)"), ""));  // elements fit, bytes do not
  expect_error(read_npy(path), {"x.npy", "too large"});
  write_file(path, npy_bytes(f4_dict("(99999999999999999999,)"), ""));
  expect_error(read_npy(path), {"x.npy", "out of range"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(IoHardeningNpy, HeaderIsParsedAsADict) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/h.npy";
  const std::string data(16, '\0');
  const std::vector<std::pair<std::string, std::string>> bad = {
      {f4_dict("(-4,)"), "not a non-negative integer"},
      {f4_dict("(+4,)"), "not a non-negative integer"},
      {f4_dict("(four,)"), "not a non-negative integer"},
      {f4_dict("(4.0,)"), "expected ',' or ')'"},
      {f4_dict("[4]"), "must be a tuple"},
      {f4_dict("(4,"), "not a non-negative integer"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "'descr' twice"},
      {"{'descr': '<f4', 'fortran_order': False, 'fortran_order': False, 'shape': (4,), }", "'fortran_order' twice"},
      {"{'fortran_order': False, 'shape': (4,), 'x': \"'descr': '<f4'\"}", "unknown key 'x'"},
      {"{'fortran_order': False, 'shape': (4,)}", "has no 'descr'"},
      {"{'descr': '<f4', 'shape': (4,)}", "has no 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False}", "has no 'shape'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (4,)}", "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} trailing", "text after"},
      {"{'descr': '<f4 , 'fortran_order': False, 'shape': (4,)}", "expected ','"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'descr\\': 1}", "escape"},
  };
  for (const auto& [dict, reason] : bad) {
    write_file(path, npy_bytes(dict, data));
    SCOPED_TRACE(dict);
    expect_error(read_npy(path), {"h.npy", reason});
  }
}

TEST(IoHardeningNpy, TypesFilesAndSizesAreChecked) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/t.npy";
  write_file(path, npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0')));
  expect_error(read_npy(path), {"t.npy", "'<c8'", "not supported"});
  write_file(path, npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0')));
  expect_error(read_npy(path), {"t.npy", "big-endian"});
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0')));
  expect_error(read_npy(path), {"t.npy", "Fortran-order"});
  write_file(path, npy_bytes(f4_dict("(3,)"), std::string(16, '\0')));
  expect_error(read_npy(path), {"t.npy", "4 bytes after the data"});
  write_file(path, npy_bytes(f4_dict("(5,)"), std::string(16, '\0')));
  expect_error(read_npy(path), {"t.npy", "truncated", "needs 20 bytes", "has 16"});
  write_file(path, "\x93NUMPY\x01");
  expect_error(read_npy(path), {"t.npy", "not a .npy file"});
  write_file(path, std::string("\x93NUMPY\x04\x00\x10\x00", 10) + std::string(16, ' '));
  expect_error(read_npy(path), {"t.npy", "version 4.0"});
  write_file(path, "PK\x03\x04 this is a zip, not npy");
  expect_error(read_npy(path), {"t.npy", "bad magic"});

  fs::create_directories(dir + "/d.npy");
  expect_error(read_npy(dir + "/d.npy"), {"d.npy", "is a directory"});
  expect_error(read_npy("/dev/zero"), {"/dev/zero", "character device"});
  ASSERT_EQ(mkfifo((dir + "/f.npy").c_str(), 0600), 0);
  expect_error(read_npy(dir + "/f.npy"), {"f.npy", "FIFO"});
  expect_error(read_npy(dir + "/absent.npy"), {"absent.npy", "no such file"});
}

// ---------------------------------------------------------------- IDX

TEST(IoHardeningIdx, ReadsPlainAndGzipWithALimit) {
  const std::string dir = scratch_dir();
  const std::string pixels = random_bytes(5 * 3 * 2, 7);
  write_file(dir + "/a.idx", idx_bytes({5, 3, 2}, pixels));
  write_gzip(dir + "/a.idx.gz", idx_bytes({5, 3, 2}, pixels));
  for (const std::string& file : {dir + "/a.idx", dir + "/a.idx.gz"}) {
    auto all = read_idx(file);
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(all->shape(), (Shape{5, 3, 2}));
    EXPECT_EQ(std::string(all->data<char>(), 30), pixels);
    auto two = read_idx(file, 2);
    ASSERT_TRUE(two.ok()) << two.status().message();
    EXPECT_EQ(two->shape(), (Shape{2, 3, 2}));
    EXPECT_EQ(std::string(two->data<char>(), 12), pixels.substr(0, 12));
  }
}

TEST(IoHardeningIdx, SizesAreCheckedAgainstTheData) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/i.idx";
  write_file(path, idx_bytes({700000, 28, 28}, std::string(100, '\0')));
  expect_error(read_idx(path), {"i.idx", "truncated", "548800000", "100"});
  write_file(path, idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, ""));
  expect_error(read_idx(path), {"i.idx", "too large"});
  write_file(path, idx_bytes({2, 2}, std::string(5, '\0')));
  expect_error(read_idx(path), {"i.idx", "1 bytes after"});
  write_file(path, idx_bytes({}, ""));
  expect_error(read_idx(path), {"i.idx", "rank 0"});
  write_file(path, std::string("\0\0\x0d\x01\0\0\0\x01", 8) + "abcd");
  expect_error(read_idx(path), {"i.idx", "only unsigned-byte"});
  write_file(path, std::string("\0\0", 2));
  expect_error(read_idx(path), {"i.idx", "not an IDX file"});
  write_file(path, std::string("\0\0\x08\x03\0\0\0\x01", 8));
  expect_error(read_idx(path), {"i.idx", "truncated IDX header"});
  fs::create_directories(dir + "/d.idx");
  expect_error(read_idx(dir + "/d.idx"), {"d.idx", "is a directory"});
  expect_error(read_idx("/dev/zero"), {"/dev/zero", "character device"});
}

TEST(IoHardeningIdx, GzipClaimsAreBounded) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/g.idx.gz";
  // 4.7 GB claimed by a file of a few hundred bytes: more than deflate can expand to.
  write_gzip(path, idx_bytes({60000, 280, 280}, std::string(1000, '\0')));
  const auto start = std::chrono::steady_clock::now();
  expect_error(read_idx(path), {"g.idx.gz", "truncated", "more than a gzip file of"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Zeros compress well enough to pass that bound; the data still ends early.
  write_gzip(path, idx_bytes({100000, 28, 28}, std::string(1000 * 28 * 28, '\0')));
  expect_error(read_idx(path), {"g.idx.gz", "truncated", "78400000"});
  write_gzip(path, idx_bytes({3}, "abcd"));
  expect_error(read_idx(path), {"g.idx.gz", "more data after"});
  write_gzip(path, idx_bytes({4}, "abcd"));
  std::string bytes = read_file(path);
  bytes[bytes.size() - 8] ^= 0x01;  // the gzip CRC-32
  write_file(path, bytes);
  expect_error(read_idx(path), {"g.idx.gz", "checksum"});
  write_gzip(path, idx_bytes({30, 28, 28}, random_bytes(30 * 28 * 28, 3)));
  fs::resize_file(path, fs::file_size(path) / 2);
  expect_error(read_idx(path), {"g.idx.gz", "truncated"});
}

// ---------------------------------------------------------------- images

// Filtered scanlines (filter byte 0) for a width x height image of `bpp` bits
// per pixel, as the seven Adam7 passes when interlaced.
std::string raw_scanlines(int64_t width, int64_t height, int64_t bpp, bool interlaced, char fill) {
  const auto rows = [&](int64_t w, int64_t h) {
    if (w == 0 || h == 0) return std::string();
    std::string row(static_cast<size_t>(1 + (w * bpp + 7) / 8), fill);
    row[0] = 0;
    std::string out;
    for (int64_t y = 0; y < h; ++y) out += row;
    return out;
  };
  if (!interlaced) return rows(width, height);
  const int64_t passes[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  std::string out;
  for (const auto& p : passes) {
    const int64_t w = width > p[0] ? (width - p[0] + p[2] - 1) / p[2] : 0;
    const int64_t h = height > p[1] ? (height - p[1] + p[3] - 1) / p[3] : 0;
    out += rows(w, h);
  }
  return out;
}

TEST(IoHardeningImage, WellFormedPngVariantsDecode) {
  struct Variant {
    int depth, color;
    bool interlaced;
    int64_t channels;  // after decoding
  };
  const std::vector<Variant> variants = {
      {8, 0, false, 1}, {1, 0, false, 1}, {2, 0, true, 1},  {4, 0, false, 1}, {16, 0, true, 1}, {8, 2, false, 3},
      {16, 2, true, 3}, {8, 3, true, 3},  {4, 3, false, 3}, {8, 4, false, 1}, {8, 6, true, 3},  {16, 6, false, 3},
  };
  const std::string palette = png_chunk("PLTE", std::string(16 * 3, '\x20'));
  for (const auto& v : variants) {
    for (const auto& [width, height] : std::vector<std::pair<int64_t, int64_t>>{{13, 7}, {1, 1}, {3, 9}}) {
      const int samples = v.color == 2 ? 3 : v.color == 4 ? 2 : v.color == 6 ? 4 : 1;
      const std::string zlib = zlib_compress(raw_scanlines(width, height, v.depth * samples, v.interlaced, 0));
      const std::string png = png_file(
          png_ihdr(static_cast<uint32_t>(width), static_cast<uint32_t>(height), v.depth, v.color, v.interlaced), zlib,
          v.color == 3 ? palette : "", 7);  // many small IDAT chunks
      auto image = decode_image(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "v.png");
      SCOPED_TRACE(
          str_cat("depth ", v.depth, " color ", v.color, " interlaced ", v.interlaced, " ", width, "x", height));
      ASSERT_TRUE(image.ok()) << image.status().message();
      EXPECT_EQ(image->width, width);
      EXPECT_EQ(image->height, height);
      EXPECT_EQ(image->channels, v.channels);
    }
  }
}

TEST(IoHardeningImage, FilesWrittenByStbAndAncillaryChunksDecode) {
  const std::string dir = scratch_dir();
  ASSERT_TRUE(write_png(dir + "/a.png", pattern_image(31, 17, 3, 1)));
  ASSERT_TRUE(write_jpeg(dir + "/a.jpg", pattern_image(31, 17, 3, 1)));
  for (const char* name : {"a.png", "a.jpg"}) {
    auto image = decode_image_file(dir + "/" + name);
    ASSERT_TRUE(image.ok()) << image.status().message();
    EXPECT_EQ(image->height, 31);
    EXPECT_EQ(image->width, 17);
  }
  // A tEXt chunk after the image data is fine.
  std::string png = read_file(dir + "/a.png");
  png.insert(png.size() - 12, png_chunk("tEXt", std::string("Comment\0hi", 10)));
  auto image = decode_image(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "text.png");
  EXPECT_TRUE(image.ok()) << image.status().message();
}

StatusOr<Image> decode_bytes(const std::string& bytes) {
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.png");
}

TEST(IoHardeningImage, DamagedPngsAreErrors) {
  const std::string dir = scratch_dir();
  ASSERT_TRUE(write_png(dir + "/a.png", pattern_image(28, 28, 1, 5)));
  const std::string good = read_file(dir + "/a.png");
  ASSERT_TRUE(decode_bytes(good).ok());
  // Every single-bit flip in the file is caught: by the signature, a CRC, a
  // chunk length or type, or the zlib stream.
  for (size_t at = 0; at < good.size(); ++at) {
    std::string bad = good;
    bad[at] ^= 0x04;
    auto image = decode_bytes(bad);
    EXPECT_FALSE(image.ok()) << "a flipped bit at byte " << at << " decoded";
  }
  std::string bad_crc = good;
  bad_crc[good.find("IDAT") + 10] ^= 0x01;
  expect_error(decode_bytes(bad_crc), {"bad.png", "CRC mismatch in chunk IDAT"});
  std::string text_crc = good;
  text_crc.insert(good.size() - 12, png_chunk("tEXt", "a"));
  text_crc[good.size() - 12 + 8] ^= 0x01;  // the tEXt data: CRCs of ancillary chunks count too
  expect_error(decode_bytes(text_crc), {"CRC mismatch in chunk tEXt"});

  const std::string ihdr = png_ihdr(4, 4, 8, 0, false);
  std::string zlib = zlib_compress(std::string(4 * 5, '\x10'));
  std::string wrong_adler = zlib;
  wrong_adler.back() ^= 0x01;
  expect_error(decode_bytes(png_file(ihdr, wrong_adler, "", 100)), {"bad.png", "Adler-32 checksum"});
  expect_error(decode_bytes(png_file(ihdr, zlib_compress(std::string(4 * 5 + 1, '\0')), "", 100)),
               {"more than the 20 bytes"});
  expect_error(decode_bytes(png_file(ihdr, zlib_compress(std::string(4 * 4, '\0')), "", 100)),
               {"truncated", "inflates to 16 bytes"});
  expect_error(decode_bytes(png_file(ihdr, zlib.substr(0, zlib.size() - 6), "", 100)), {"does not end"});
  expect_error(decode_bytes(png_file(ihdr, zlib + "xyz", "", 100)), {"continues after the end"});
  expect_error(decode_bytes(png_file(png_ihdr(4, 4, 3, 0, false), zlib, "", 100)), {"invalid IHDR", "bit depth 3"});
  expect_error(decode_bytes(png_file(png_ihdr(0, 4, 8, 0, false), zlib, "", 100)), {"0x4"});
  std::string no_iend = png_file(ihdr, zlib, "", 100);
  no_iend.resize(no_iend.size() - 12);
  expect_error(decode_bytes(no_iend), {"truncated PNG"});
  std::string split = png_file(ihdr, zlib.substr(0, 5), png_chunk("tEXt", "a"), 100);
  split.insert(split.size() - 12, png_chunk("tEXt", "b") + png_chunk("IDAT", zlib.substr(5)));
  expect_error(decode_bytes(split), {"not consecutive"});
}

TEST(IoHardeningImage, TruncatedJpegIsAnError) {
  const std::string dir = scratch_dir();
  ASSERT_TRUE(write_jpeg(dir + "/a.jpg", pattern_image(40, 40, 3, 2)));
  const std::string good = read_file(dir + "/a.jpg");
  EXPECT_TRUE(decode_bytes(good).ok());
  EXPECT_TRUE(decode_bytes(good + "trailing data some cameras append").ok());
  for (size_t cut : {size_t{2}, size_t{20}, good.size() / 2}) {
    expect_error(decode_bytes(good.substr(0, good.size() - cut)), {"bad.png", "JPEG"});
  }
  expect_error(decode_bytes(good.substr(0, 1)), {"bad.png", "cannot decode"});
  expect_error(decode_bytes(good.substr(0, good.size() - 2)), {"truncated JPEG", "end-of-image"});
}

TEST(IoHardeningImage, JpegHuffmanTablesAreCheckedBeforeStb) {
  // The fuzzer's reproducers: stb_image writes out of bounds on them.
  for (const char* name : {"stb_jpeg_dht_over_256_codes.jpg", "stb_jpeg_dht_truncated_table.jpg"}) {
    const std::string reproducer = source_path(std::string("tests/fuzz/regressions/image_fuzzer/") + name);
    if (fs::exists(reproducer)) expect_error(decode_image_file(reproducer), {name, "Huffman table"});
  }
  const std::string dir = scratch_dir();
  ASSERT_TRUE(write_jpeg(dir + "/a.jpg", pattern_image(16, 16, 1, 2)));
  const std::string good = read_file(dir + "/a.jpg");
  const size_t dht = good.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  std::string bad = good;
  bad[dht + 5 + 15] = static_cast<char>(0xff);  // the 16-bit code count of the first table
  bad[dht + 5 + 14] = static_cast<char>(0xff);
  expect_error(decode_bytes(bad), {"Huffman table", "more than 256"});
  bad = good;
  bad[dht + 4] = 0x25;  // class 2
  expect_error(decode_bytes(bad), {"bad class or id"});
}

TEST(IoHardeningImage, HugeDimensionsAreRefusedBeforeDecoding) {
  const auto start = std::chrono::steady_clock::now();
  expect_error(decode_bytes(png_with_rows(16384, 16384, 4)), {"bad.png", "16384 pixels wide and 16384 high", "limit"});
  expect_error(decode_bytes(png_with_rows(20000, 1, 1)), {"20000 pixels wide"});
  expect_error(decode_bytes(png_with_rows(0x7fffffff, 0x7fffffff, 0)), {"limit"});
  expect_error(decode_bytes(jpeg_header(30000, 20000)), {"20000 pixels wide and 30000 high", "limit"});
  expect_error(decode_bytes(jpeg_header(9000, 9000)), {"limit of 16384 pixels per side and 67108864 pixels in all"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Within the limits a header of a size is fine, and the missing rows are the error.
  expect_error(decode_bytes(png_with_rows(8192, 8192, 4)), {"truncated", "inflates to"});
}

TEST(IoHardeningImage, OnlyRegularFilesAreRead) {
  const std::string dir = scratch_dir();
  fs::create_directories(dir + "/d.png");
  expect_error(decode_image_file(dir + "/d.png"), {"d.png", "is a directory"});
  expect_error(decode_image_file("/dev/zero"), {"/dev/zero", "character device"});
  ASSERT_EQ(mkfifo((dir + "/f.png").c_str(), 0600), 0);
  expect_error(decode_image_file(dir + "/f.png"), {"f.png", "FIFO"});
  write_file(dir + "/empty.png", "");
  expect_error(decode_image_file(dir + "/empty.png"), {"empty.png", "empty file"});
}

// ---------------------------------------------------------------- preprocess

TEST(IoHardeningPreprocess, DuplicateKeysAreErrors) {
  expect_error(parse_preprocess_json(R"({"std": [1], "std": [2]})", "s.json"), {"s.json", "'std' is given twice"});
  expect_error(
      parse_preprocess_json(R"({"resize": {"mode": "nearest", "size": [2, 2], "mode": "bilinear"}})", "s.json"),
      {"'resize.mode' is given twice"});
  // The same key in different objects is fine.
  auto spec = parse_preprocess_json(R"({"resize": {"size": [4, 4]}, "center_crop": [2, 2], "color": "rgb"})", "s.json");
  EXPECT_TRUE(spec.ok()) << spec.status().message();
}

TEST(IoHardeningPreprocess, NumbersMustFitFloat32AndMakeSense) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"std": [1e39]})", "outside the range of float32"},
      {R"({"mean": [-1e39]})", "outside the range of float32"},
      {R"({"scale": 1e300})", "outside the range of float32"},
      {R"({"std": [0]})", "must be positive"},
      {R"({"std": [-1]})", "must be positive"},
      {R"({"std": [1e-45]})", "must be positive"},  // rounds to a float32 denormal: normalising overflows
      {R"({"scale": 0})", "'scale' must be positive"},
      {R"({"scale": -0.5})", "'scale' must be positive"},
      {R"({"scale": "1/255"})", "must be a number"},
      {R"({"std": ["1"]})", "must be a number"},
      {R"({"color": 3})", "'color' must be a string"},
      {R"({"layout": null})", "'layout' must be a string"},
      {R"({"resize": {"size": [2, 2], "mode": 1}})", "'mode' must be a string"},
      {R"({"resize": {"size": [2, 2], "antialias": "no"}})", "antialias must be true or false"},
  };
  for (const auto& [json, reason] : bad) expect_error(parse_preprocess_json(json, "s.json"), {"s.json", reason});
  auto fine = parse_preprocess_json(R"({"scale": 3.4e38, "std": [1.2e-38], "mean": [-3.4e38]})", "s.json");
  EXPECT_TRUE(fine.ok()) << fine.status().message();
}

TEST(IoHardeningPreprocess, SizesHaveDocumentedLimits) {
  expect_error(parse_preprocess_json(R"({"resize": {"size": [65536, 4096]}})", "s.json"), {"resize.size", "16384"});
  expect_error(parse_preprocess_json(R"({"resize": {"size": [16384, 16384]}})", "s.json"), {"67108864 pixels in all"});
  expect_error(parse_preprocess_json(R"({"resize": {"shorter_side": 16385}})", "s.json"), {"shorter_side"});
  expect_error(parse_preprocess_json(R"({"center_crop": [8192, 8193]})", "s.json"), {"center_crop"});
  EXPECT_TRUE(parse_preprocess_json(R"({"resize": {"size": [8192, 8192]}})", "s.json").ok());
  // shorter_side: the longer side follows the image, so it is checked per image.
  auto spec = parse_preprocess_json(R"({"resize": {"shorter_side": 4096}})", "s.json");
  ASSERT_TRUE(spec.ok());
  expect_error(preprocessed_size(*spec, 16384, 100, 1), {"gives 671088x4096", "limit"});
  EXPECT_TRUE(preprocessed_size(*spec, 100, 100, 1).ok());
}

TEST(IoHardeningPreprocess, SpecFileMustBeARegularFile) {
  const std::string dir = scratch_dir();
  expect_error(read_preprocess_file(dir + "/absent.json"), {"absent.json", "no such file"});
  fs::create_directories(dir + "/d.json");
  expect_error(read_preprocess_file(dir + "/d.json"), {"d.json", "is a directory"});
  ASSERT_EQ(mkfifo((dir + "/f.json").c_str(), 0600), 0);
  expect_error(read_preprocess_file(dir + "/f.json"), {"f.json", "FIFO"});
  expect_error(read_preprocess_file("/dev/zero"), {"/dev/zero", "character device"});
}

// ---------------------------------------------------------------- datasets

std::string make_class_folders(const std::string& root, int classes) {
  for (int c = 0; c < classes; ++c) {
    fs::create_directories(root + "/c" + std::to_string(c));
    EXPECT_TRUE(write_png(root + "/c" + std::to_string(c) + "/a.png", pattern_image(4, 4, 1, c)));
  }
  return root;
}

TEST(IoHardeningDataset, NothingInAFolderIsSilentlySkipped) {
  const std::string dir = scratch_dir();
  const std::string root = make_class_folders(dir + "/ds", 2);
  fs::create_symlink(dir + "/missing.png", root + "/c0/b.png");
  expect_error(open_image_folder(root), {"c0/b.png", "dangling symbolic link"});
  fs::remove(root + "/c0/b.png");
  fs::create_symlink(dir + "/missing", root + "/c1/sub");  // a dangling link without an image name counts too
  expect_error(open_image_folder(root), {"c1/sub", "dangling"});
  fs::remove(root + "/c1/sub");
  ASSERT_EQ(mkfifo((root + "/c1/p.jpg").c_str(), 0600), 0);
  expect_error(open_image_folder(root), {"c1/p.jpg", "FIFO"});
  fs::remove(root + "/c1/p.jpg");
  fs::create_directory_symlink(root, root + "/c1/loop");
  expect_error(open_image_folder(root), {"c1/loop", "a loop or a duplicate"});
  fs::remove(root + "/c1/loop");
  ASSERT_TRUE(open_image_folder(root).ok());
}

TEST(IoHardeningDataset, LinkedClassFoldersAreFollowed) {
  const std::string dir = scratch_dir();
  const std::string root = make_class_folders(dir + "/ds", 2);
  make_class_folders(dir + "/elsewhere", 1);
  fs::create_directory_symlink(dir + "/elsewhere/c0", root + "/c2");
  fs::create_symlink(root + "/c0/a.png", root + "/c1/linked.png");
  auto dataset = open_image_folder(root);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  ASSERT_EQ((*dataset)->size(), 4);
  EXPECT_EQ((*dataset)->class_names(), (std::vector<std::string>{"c0", "c1", "c2"}));
  EXPECT_EQ((*dataset)->label(3), 2);  // c2/a.png, through the link
  EXPECT_EQ((*dataset)->label(2), 1);  // c1/linked.png
}

TEST(IoHardeningDataset, LabelsMustFitTheModel) {
  const std::string dir = scratch_dir();
  write_file(dir + "/images.idx", idx_bytes({3, 2, 2}, std::string(12, '\0')));
  write_file(dir + "/labels.idx", idx_bytes({3}, std::string("\x01\x09\x0c", 3)));
  auto idx = open_dataset(dir + "/images.idx", dir + "/labels.idx");
  ASSERT_TRUE(idx.ok()) << idx.status().message();
  expect_error(check_labels_fit(**idx, 10, dir + "/labels.idx"),
               {"labels.idx", "label 12", "images.idx[2]", "10 classes"});
  EXPECT_TRUE(check_labels_fit(**idx, 13, dir + "/labels.idx").ok());

  const std::string root = make_class_folders(dir + "/ds", 12);
  auto folder = open_image_folder(root);
  ASSERT_TRUE(folder.ok());
  expect_error(check_labels_fit(**folder, 10, root), {"ds", "12 class folders", "10 classes"});
  EXPECT_TRUE(check_labels_fit(**folder, 12, root).ok());
  // labels.txt labels are checked the same way.
  std::ofstream labels(root + "/labels.txt");
  for (int c = 0; c < 12; ++c) labels << "c" << c << "/a.png " << (c == 5 ? 40 : c) << "\n";
  labels.close();
  auto listed = open_image_folder(root);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  expect_error(check_labels_fit(**listed, 12, root), {"label 40", "c5/a.png"});
}

TEST(IoHardeningDataset, LabelFilesAreChecked) {
  const std::string dir = scratch_dir();
  const std::string root = make_class_folders(dir + "/ds", 2);
  write_file(dir + "/labels.idx", idx_bytes({2}, std::string(2, '\0')));
  expect_error(open_dataset(root, dir + "/labels.idx"), {"labels.idx", "apply to IDX datasets"});
  fs::create_symlink(dir + "/gone.txt", root + "/labels.txt");
  expect_error(open_image_folder(root), {"labels.txt"});
  fs::remove(root + "/labels.txt");
  fs::create_directories(root + "/labels.txt");
  expect_error(open_image_folder(root), {"labels.txt", "is a directory"});

  write_file(dir + "/names.txt", "a\r\nb\r\n\n\n");
  auto names = read_class_names(dir + "/names.txt");
  ASSERT_TRUE(names.ok()) << names.status().message();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b"}));
  expect_error(read_class_names(dir + "/absent.txt"), {"absent.txt", "no such file"});
  write_file(dir + "/empty.txt", "\n");
  expect_error(read_class_names(dir + "/empty.txt"), {"empty.txt", "empty"});
  expect_error(read_class_names(dir), {"is a directory"});
}

TEST(IoHardeningDataset, BatchLoaderRefusesAHugeBatch) {
  const std::string dir = scratch_dir();
  write_file(dir + "/images.idx", idx_bytes({1, 2, 2}, std::string(4, '\0')));
  auto dataset = open_dataset(dir + "/images.idx", "");
  ASSERT_TRUE(dataset.ok());
  const PreprocessSpec spec;
  const PreprocessedSize size{3, 16384, 4096};
  expect_error(BatchLoader::create(**dataset, spec, size, 1, 4096), {"batch of 4096 images", "limit"});
}

}  // namespace
}  // namespace kestrel::testing
