// Bad-input catalogue: command-line flags and model paths.
#include <fstream>

#include "bad_input_catalogue.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

std::string bundled_model() { return source_path("models/fmnist_cnn.onnx"); }

KESTREL_BAD_INPUTS({
    {.name = "MissingModelFile",
     .make = [](const std::string& dir) { return "inspect --model " + dir + "/absent.onnx"; },
     .fragments = {"absent.onnx", "cannot open"},
     .reason = "a path that does not exist"},
    {.name = "TextFileAsOnnx",
     .make =
         [](const std::string& dir) {
           std::ofstream(dir + "/text.onnx") << "plain text\n";
           return "inspect --model " + dir + "/text.onnx";
         },
     .fragments = {"text.onnx", "not an ONNX model"},
     .reason = "a file of another kind"},
    {.name = "UnknownFlag",
     .make = [](const std::string&) { return "inspect --model " + bundled_model() + " --no-such-flag"; },
     .exit_code = 2,
     .fragments = {"kestrel inspect: error: ", "--no-such-flag", "--help"},
     .reason = "an unknown option is an error, never ignored"},
});

}  // namespace
}  // namespace kestrel::testing
