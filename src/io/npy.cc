#include "io/npy.h"

#include <cstring>
#include <fstream>
#include <map>
#include <regex>

namespace kestrel {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kHeaderAlignment = 64;

const std::map<std::string, DType>& descr_table() {
  static const std::map<std::string, DType> table = {
      {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16}, {"|u1", DType::kUInt8},
      {"|i1", DType::kInt8},    {"<u2", DType::kUInt16},  {"<i2", DType::kInt16},   {"<u4", DType::kUInt32},
      {"<i4", DType::kInt32},   {"<u8", DType::kUInt64},  {"<i8", DType::kInt64},   {"|b1", DType::kBool},
  };
  return table;
}

StatusOr<Shape> parse_shape(const std::string& text, const std::string& path) {
  Shape shape;
  std::regex number(R"(\d+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) {
    try {
      shape.push_back(std::stoll(it->str()));
    } catch (const std::exception&) {
      return data_loss(path, ": .npy shape '", text, "' is out of range");
    }
  }
  return shape;
}

}  // namespace

StatusOr<Tensor> read_npy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(path, ": cannot open file");
  char preamble[10] = {};
  file.read(preamble, sizeof(preamble));
  if (!file || std::memcmp(preamble, kMagic, kMagicSize) != 0) return data_loss(path, ": not a .npy file");
  const int major = static_cast<unsigned char>(preamble[6]);
  size_t header_size = static_cast<unsigned char>(preamble[8]) | (static_cast<unsigned char>(preamble[9]) << 8);
  if (major >= 2) {  // 4-byte header length
    char extra[2];
    file.read(extra, 2);
    header_size |= (static_cast<size_t>(static_cast<unsigned char>(extra[0])) << 16) |
                   (static_cast<size_t>(static_cast<unsigned char>(extra[1])) << 24);
  }
  std::string header(header_size, '\0');
  file.read(header.data(), static_cast<std::streamsize>(header_size));
  if (!file) return data_loss(path, ": truncated .npy header");

  std::smatch match;
  if (!std::regex_search(header, match, std::regex(R"('descr'\s*:\s*'([^']*)')"))) {
    return data_loss(path, ": .npy header has no descr");
  }
  const auto dtype = descr_table().find(match[1].str());
  if (dtype == descr_table().end()) {
    return unimplemented(path, ": .npy element type '", match[1].str(), "' is not supported");
  }
  if (std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)"))) {
    return unimplemented(path, ": Fortran-order .npy arrays are not supported (save with C order)");
  }
  if (!std::regex_search(header, match, std::regex(R"('shape'\s*:\s*\(([^)]*)\))"))) {
    return data_loss(path, ": .npy header has no shape");
  }
  KESTREL_ASSIGN_OR_RETURN(Shape shape, parse_shape(match[1].str(), path));
  Tensor tensor(dtype->second, shape);
  file.read(static_cast<char*>(tensor.raw_data()), static_cast<std::streamsize>(tensor.nbytes()));
  if (!file) {
    return data_loss(path, ": .npy data is truncated (shape ", shape_string(shape), " of ",
                     dtype_name(tensor.dtype()), " needs ", tensor.nbytes(), " bytes)");
  }
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
  std::ofstream file(path, std::ios::binary);
  if (!file) return not_found(path, ": cannot write file");
  file.write(kMagic, kMagicSize);
  const char version[2] = {1, 0};
  file.write(version, 2);
  const char length[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  file.write(length, 2);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  file.write(static_cast<const char*>(tensor.raw_data()), static_cast<std::streamsize>(tensor.nbytes()));
  if (!file) return not_found(path, ": failed to write file");
  return {};
}

}  // namespace kestrel
