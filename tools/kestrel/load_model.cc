#include <filesystem>

#include "commands.h"
#include "frontend/onnx/onnx_importer.h"

namespace kestrel::cli {

StatusOr<std::shared_ptr<const Graph>> load_model(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension != ".onnx") {
    return unimplemented(path, ": unknown model format '", extension, "' (expected .onnx)");
  }
  KESTREL_ASSIGN_OR_RETURN(Graph graph, import_onnx_file(path));
  return std::make_shared<const Graph>(std::move(graph));
}

}  // namespace kestrel::cli
