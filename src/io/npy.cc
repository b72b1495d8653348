#include "io/npy.h"

#include "base/safe_write.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

#include "base/checked_math.h"
#include "io/file_reader.h"

namespace kestrel {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kHeaderAlignment = 64;
// NumPy itself refuses headers over 10000 bytes unless told otherwise
// (np.load's max_header_size); anything longer is not an array header.
constexpr int64_t kMaxHeaderBytes = 65536;
// NumPy's own limit on the number of dimensions.
constexpr size_t kMaxRank = 64;

const std::map<std::string, DType>& descr_table() {
  static const std::map<std::string, DType> table = {
      {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16}, {"|u1", DType::kUInt8},
      {"|i1", DType::kInt8},    {"<u2", DType::kUInt16},  {"<i2", DType::kInt16},   {"<u4", DType::kUInt32},
      {"<i4", DType::kInt32},   {"<u8", DType::kUInt64},  {"<i8", DType::kInt64},   {"|b1", DType::kBool},
  };
  return table;
}

// The header: a Python dict literal with exactly the keys 'descr' (a
// string), 'fortran_order' (True/False) and 'shape' (a tuple of
// non-negative integers), as numpy.lib.format writes it.
struct NpyHeader {
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<Shape> shape;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  StatusOr<NpyHeader> parse() {
    NpyHeader header;
    skip_space();
    if (!consume('{')) return error("does not start with '{'");
    for (skip_space(); !consume('}'); skip_space()) {
      KESTREL_ASSIGN_OR_RETURN(const std::string key, string_literal("a key"));
      skip_space();
      if (!consume(':')) return error("expected ':' after '", key, "'");
      skip_space();
      KESTREL_RETURN_IF_ERROR(value_for(key, header));
      skip_space();
      if (consume('}')) break;
      if (!consume(',')) return error("expected ',' or '}' after the value of '", key, "'");
    }
    skip_space();
    if (pos_ != text_.size()) return error("has text after the closing '}'");
    if (!header.descr) return error("has no 'descr'");
    if (!header.fortran_order) return error("has no 'fortran_order'");
    if (!header.shape) return error("has no 'shape'");
    return header;
  }

 private:
  template <typename... Args>
  Status error(const Args&... args) const {
    return data_loss(path_, ": .npy header ", args..., " (at byte ", pos_, " of the header)");
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n')) ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) return ++pos_, true;
    return false;
  }
  bool consume_word(const char* word) {
    const size_t length = std::strlen(word);
    if (text_.compare(pos_, length, word) != 0) return false;
    pos_ += length;
    return true;
  }

  // 'text' or "text" without escapes (NumPy writes none in these values).
  StatusOr<std::string> string_literal(const char* what) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return error("expected ", what);
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string::npos) return error("has an unterminated string");
    std::string value = text_.substr(pos_, end - pos_);
    if (value.find('\\') != std::string::npos) return error("has an escape in string '", value, "'");
    pos_ = end + 1;
    return value;
  }

  Status value_for(const std::string& key, NpyHeader& header) {
    const auto duplicate = [&] { return error("has the key '", key, "' twice"); };
    if (key == "descr") {
      if (header.descr) return duplicate();
      KESTREL_ASSIGN_OR_RETURN(header.descr, string_literal("a string for 'descr'"));
    } else if (key == "fortran_order") {
      if (header.fortran_order) return duplicate();
      if (consume_word("True")) header.fortran_order = true;
      else if (consume_word("False")) header.fortran_order = false;
      else return error("'fortran_order' must be True or False");
    } else if (key == "shape") {
      if (header.shape) return duplicate();
      KESTREL_ASSIGN_OR_RETURN(header.shape, shape_tuple());
    } else {
      return error("has an unknown key '", key, "' (expected descr, fortran_order and shape)");
    }
    return {};
  }

  // (), (3,) or (2, 3): each dim a non-negative decimal integer.
  StatusOr<Shape> shape_tuple() {
    if (!consume('(')) return error("'shape' must be a tuple such as (2, 3)");
    Shape shape;
    for (skip_space(); !consume(')'); skip_space()) {
      const char* first = text_.data() + pos_;
      const char* last = text_.data() + text_.size();
      int64_t dim = 0;
      const auto [end, code] = std::from_chars(first, last, dim);
      if (end == first || *first == '-' || *first == '+') {
        return error("'shape' holds '", text_.substr(pos_, std::min<size_t>(20, text_.size() - pos_)),
                     "', not a non-negative integer");
      }
      if (code != std::errc()) return error("'shape' dimension ", std::string(first, end), " is out of range");
      pos_ += static_cast<size_t>(end - first);
      if (shape.size() == kMaxRank) return error("'shape' has more than ", kMaxRank, " dimensions");
      shape.push_back(dim);
      skip_space();
      if (consume(')')) break;
      if (!consume(',')) return error("expected ',' or ')' in 'shape'");
    }
    return shape;
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

StatusOr<DType> npy_dtype(const std::string& descr, const std::string& path) {
  const auto dtype = descr_table().find(descr);
  if (dtype != descr_table().end()) return dtype->second;
  if (!descr.empty() && descr[0] == '>') {
    return unimplemented(path, ": big-endian .npy element type '", descr, "' is not supported (save little-endian)");
  }
  return unimplemented(path, ": .npy element type '", descr, "' is not supported");
}

// The header length, after checking the version and that the header fits in the file.
StatusOr<int64_t> read_header_length(FileReader& file) {
  unsigned char preamble[8] = {};
  if (file.size() < 10) return data_loss(file.path(), ": not a .npy file (", file.size(), " bytes)");
  KESTREL_RETURN_IF_ERROR(file.read_exact(preamble, 8, ".npy preamble"));
  if (std::memcmp(preamble, kMagic, kMagicSize) != 0) return data_loss(file.path(), ": not a .npy file (bad magic)");
  const int major = preamble[6];
  if (major < 1 || major > 3 || preamble[7] != 0) {
    return unimplemented(file.path(), ": .npy format version ", major, ".", int{preamble[7]}, " is not supported");
  }
  unsigned char length[4] = {};
  const int length_bytes = major == 1 ? 2 : 4;
  KESTREL_RETURN_IF_ERROR(file.read_exact(length, length_bytes, ".npy header length"));
  int64_t header_length = 0;
  for (int i = length_bytes - 1; i >= 0; --i) header_length = (header_length << 8) | length[i];
  if (header_length > file.remaining()) {
    return data_loss(file.path(), ": truncated .npy header: its length is ", header_length, " bytes but the file has ",
                     file.remaining(), " after the preamble");
  }
  if (header_length > kMaxHeaderBytes) {
    return data_loss(file.path(), ": .npy header length ", header_length, " is larger than the limit of ",
                     kMaxHeaderBytes, " bytes");
  }
  return header_length;
}

}  // namespace

StatusOr<Tensor> read_npy(const std::string& path) {
  KESTREL_ASSIGN_OR_RETURN(FileReader file, FileReader::open(path));
  KESTREL_ASSIGN_OR_RETURN(const int64_t header_length, read_header_length(file));
  std::string text(static_cast<size_t>(header_length), '\0');
  KESTREL_RETURN_IF_ERROR(file.read_exact(text.data(), header_length, ".npy header"));
  KESTREL_ASSIGN_OR_RETURN(const NpyHeader header, HeaderParser(text, path).parse());
  KESTREL_ASSIGN_OR_RETURN(const DType dtype, npy_dtype(*header.descr, path));
  const Shape& shape = *header.shape;
  if (*header.fortran_order && shape.size() > 1) {
    return unimplemented(path, ": Fortran-order .npy arrays are not supported (save with C order)");
  }
  const auto elements = checked_element_count(shape);
  const auto bytes = elements ? checked_bytes(*elements, static_cast<int64_t>(dtype_size(dtype))) : std::nullopt;
  if (!bytes) return data_loss(path, ": .npy shape ", shape_string(shape), " is too large (its size overflows)");
  if (*bytes > file.remaining()) {
    return data_loss(path, ": .npy data is truncated: shape ", shape_string(shape), " of ", dtype_name(dtype),
                     " needs ", *bytes, " bytes, the file has ", file.remaining(), " after the header");
  }
  if (*bytes < file.remaining()) {
    return data_loss(path, ": .npy file has ", file.remaining() - *bytes, " bytes after the data of shape ",
                     shape_string(shape), " of ", dtype_name(dtype), " (a wrong shape in the header?)");
  }
  Tensor tensor(dtype, shape);
  KESTREL_RETURN_IF_ERROR(file.read_exact(tensor.raw_data(), *bytes, ".npy data"));
  return tensor;
}

Status write_npy(const std::string& path, const Tensor& tensor) {
  std::string descr;
  for (const auto& [name, dtype] : descr_table()) {
    if (dtype == tensor.dtype()) descr = name;
  }
  if (descr.empty()) return unimplemented(path, ": cannot store ", dtype_name(tensor.dtype()), " in .npy");
  std::string shape = "(";
  for (int64_t dim : tensor.shape()) shape += std::to_string(dim) + ",";
  if (tensor.rank() > 1) shape.pop_back();  // (3,) for 1-D, (2,3) otherwise
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append((kHeaderAlignment - unpadded % kHeaderAlignment) % kHeaderAlignment, ' ');
  header += '\n';
  const char version[2] = {1, 0};
  const char length[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  return write_file_atomically(
      path,
      [&](const WriteChunk& write) {
        write(kMagic, kMagicSize);
        write(version, 2);
        write(length, 2);
        write(header.data(), header.size());
        write(tensor.raw_data(), static_cast<size_t>(tensor.nbytes()));
        return Status();
      },
      "tensor file");
}

}  // namespace kestrel
