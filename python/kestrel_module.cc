// The Python module `kestrel`: pybind11 over the C++ wrapper
// (include/kestrel/kestrel.hpp), itself over the C API; no logic of its own
// beyond converting numpy arrays and dicts.
//
//   import kestrel, numpy as np
//   model = kestrel.load("resnet50_int8.kestrel")
//   session = kestrel.Session(model, threads=2)
//   logits = session.run({"input": np.zeros(model.inputs[0].shape, np.float32)})["logits"]
//   kestrel.convert(model="m.onnx", output="m.kestrel", precision="int8",
//                   calibration_data="images/", preprocess="preprocess.json")
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <kestrel/kestrel.hpp>
#include <mutex>

namespace py = pybind11;
namespace api = kestrel::api;

namespace {

// numpy's name for each Kestrel dtype ("" when numpy has none).
const char* numpy_dtype(api::DType dtype) {
  switch (dtype) {
    case api::DType::kFloat32: return "float32";
    case api::DType::kFloat64: return "float64";
    case api::DType::kUInt8: return "uint8";
    case api::DType::kInt8: return "int8";
    case api::DType::kInt32: return "int32";
    case api::DType::kInt64: return "int64";
    case api::DType::kBool: return "bool";
    default: return "";
  }
}

py::dict tensor_info_dict(const api::TensorInfo& info) {
  py::dict out;
  out["name"] = info.name;
  out["dtype"] = numpy_dtype(info.dtype);
  out["shape"] = py::tuple(py::cast(info.shape));
  if (info.quant) {
    out["scales"] = info.quant->scales;
    out["zero_points"] = info.quant->zero_points;
  }
  return out;
}

// One session may be shared by Python threads: each run() holds the
// session for its whole copy-in, run and copy-out (the C API's
// kestrel_session_run, on buffers this call owns), and concurrent callers
// wait their turn on a mutex (the GIL released), so a result always belongs
// to its own inputs.
class PySession {
 public:
  PySession(const api::Model& model, int threads, bool pin_threads, int64_t max_arena_bytes)
      : model_(&model),
        session_(model, api::SessionOptions{
                            .threads = threads, .pin_threads = pin_threads, .max_arena_bytes = max_arena_bytes}) {}

  // Inputs by name (all of them); returns {output name: new array}.
  py::dict run(const py::dict& feeds) {
    const size_t input_count = model_->input_count();
    if (feeds.size() != input_count) {
      throw py::value_error("the model takes " + std::to_string(input_count) + " input(s), got " +
                            std::to_string(feeds.size()));
    }
    std::vector<api::TensorInfo> infos;
    std::vector<py::array> arrays;  // keep the contiguous inputs alive through the run
    // A variable-batch model takes dim 0 = any batch 1..max_batch, the same for every input.
    const int64_t max_batch = model_->max_batch();
    int64_t batch = 0;
    for (auto item : feeds) {
      const std::string name = py::cast<std::string>(item.first);
      const size_t index = model_->find_input(name);  // throws kestrel.Error for an unknown name
      api::TensorInfo info = model_->input(index);
      py::array array = py::array::ensure(item.second);
      if (!array) throw py::type_error("input '" + name + "' is not an array");
      if (py::str(array.dtype()).cast<std::string>() != numpy_dtype(info.dtype)) {
        throw py::type_error("input '" + name + "': expected " + numpy_dtype(info.dtype) + ", got " +
                             py::str(array.dtype()).cast<std::string>());
      }
      std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
      const bool batched = max_batch > 0 && shape.size() == info.shape.size() && !shape.empty() && shape[0] >= 1 &&
                           shape[0] <= max_batch && std::equal(shape.begin() + 1, shape.end(), info.shape.begin() + 1);
      if (batched && batch != 0 && shape[0] != batch) {
        throw py::value_error("input '" + name + "' has batch " + std::to_string(shape[0]) + ", another input " +
                              std::to_string(batch) + " (all inputs must have the same batch)");
      }
      if (batched) {
        batch = shape[0];
        info.shape[0] = batch;
      } else if (shape != info.shape) {
        std::string message = "input '" + name + "': expected shape ";
        message += py::str(py::cast(info.shape)).cast<std::string>();
        message += max_batch > 0 ? " with dim 0 any batch 1.." + std::to_string(max_batch) : " (as compiled)";
        message += ", got ";
        message += py::str(py::cast(shape)).cast<std::string>();
        throw py::value_error(message);
      }
      arrays.push_back(py::array::ensure(array, py::array::c_style));
      infos.push_back(std::move(info));
    }
    std::vector<api::TensorInfo> output_infos = model_->outputs();
    if (batch > 0) {
      for (api::TensorInfo& info : output_infos) info.shape[0] = batch;
    }
    std::vector<py::array> results;
    results.reserve(output_infos.size());
    for (const api::TensorInfo& info : output_infos)
      results.emplace_back(py::dtype(numpy_dtype(info.dtype)), info.shape);
    // infos, output_infos and the arrays no longer move: the views below point into them.
    std::vector<api::Tensor> inputs, outputs;
    for (size_t i = 0; i < infos.size(); ++i) {
      auto* data = static_cast<std::byte*>(const_cast<void*>(arrays[i].data()));
      inputs.emplace_back(infos[i].name.c_str(), infos[i].dtype, infos[i].shape,
                          std::span<std::byte>(data, static_cast<size_t>(arrays[i].nbytes())));
    }
    for (size_t i = 0; i < output_infos.size(); ++i) {
      auto* data = static_cast<std::byte*>(results[i].mutable_data());
      outputs.emplace_back(output_infos[i].name.c_str(), output_infos[i].dtype, output_infos[i].shape,
                           std::span<std::byte>(data, static_cast<size_t>(results[i].nbytes())));
    }
    {
      py::gil_scoped_release release;
      const std::lock_guard<std::mutex> hold(mutex_);
      session_.run(inputs, outputs);
    }
    py::dict named;
    for (size_t i = 0; i < output_infos.size(); ++i) named[py::str(output_infos[i].name)] = results[i];
    return named;
  }

 private:
  const api::Model* model_;
  api::Session session_;
  std::mutex mutex_;  // serializes run() of Python threads sharing this session
};

}  // namespace

PYBIND11_MODULE(kestrel, m) {
  m.doc() = "Kestrel: load and run .kestrel models, convert ONNX models (FP32 or INT8)";
  static py::exception<api::Error> error(m, "Error", PyExc_RuntimeError);
  // pybind11 takes a void (*)(std::exception_ptr): by value.
  py::register_exception_translator([](std::exception_ptr p) {  // NOLINT(performance-unnecessary-value-param)
    try {
      if (p) std::rethrow_exception(p);
    } catch (const api::Error& e) {
      error(e.what());
    }
  });

  py::class_<api::Model>(m, "Model")
      .def_static("load", &api::Model::load, py::arg("path"), "Load a .kestrel model (memory-mapped)")
      .def_static(
          "load_buffer",
          [](const py::bytes& data) {
            const std::string bytes = data;
            return api::Model::load_buffer(
                std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
          },
          py::arg("data"), "Load a .kestrel model from bytes")
      .def_property_readonly("inputs",
                             [](const api::Model& model) {
                               py::list out;
                               for (const auto& info : model.inputs()) out.append(tensor_info_dict(info));
                               return out;
                             })
      .def_property_readonly("outputs",
                             [](const api::Model& model) {
                               py::list out;
                               for (const auto& info : model.outputs()) out.append(tensor_info_dict(info));
                               return out;
                             })
      .def_property_readonly("max_batch", &api::Model::max_batch,
                             "N for a model converted with max_batch N (runs every batch 1..N), else 0")
      .def_property_readonly("metadata", [](const api::Model& model) {
        py::dict out;
        for (const auto& [key, value] : model.metadata()) out[py::str(key)] = value;
        return out;
      });
  m.def("load", &api::Model::load, py::arg("path"), "Load a .kestrel model (memory-mapped)");

  py::class_<PySession>(m, "Session")
      .def(py::init<const api::Model&, int, bool, int64_t>(), py::arg("model"), py::arg("threads") = 0,
           py::arg("pin_threads") = false, py::arg("max_arena_bytes") = 0, py::keep_alive<1, 2>())
      .def("run", &PySession::run, py::arg("inputs"),
           "Run on {input name: numpy array}; returns {output name: numpy array}");

  m.def(
      "preprocess_image",
      [](const std::string& preprocess, const std::string& image) {
        int64_t dims[3] = {0, 0, 0};
        api::check(kestrel_preprocess_image(preprocess.c_str(), image.c_str(), nullptr, 0, dims));
        py::array_t<float> out({dims[0], dims[1], dims[2]});
        api::check(kestrel_preprocess_image(preprocess.c_str(), image.c_str(), out.mutable_data(),
                                            static_cast<size_t>(out.nbytes()), dims));
        return out;
      },
      py::arg("preprocess"), py::arg("image"),
      "Decode a PNG/JPEG file and preprocess it per the JSON spec: float32 [C, H, W] (or [H, W, C])");

  m.def(
      "convert",
      [](const std::string& model, const std::string& output, const std::string& input_shape,
         const std::string& precision, const std::string& calibration_data, const std::string& preprocess,
         int64_t calibration_count, const std::string& calibration_method, double percentile,
         const std::string& quant_config, int threads, const py::object& calibration_batches, int64_t max_batch) {
        api::ConvertOptions options{.model = model,
                                    .output = output,
                                    .input_shape = input_shape,
                                    .precision = precision,
                                    .calibration_data = calibration_data,
                                    .preprocess = preprocess,
                                    .calibration_method = calibration_method,
                                    .quant_config = quant_config,
                                    .max_batch = max_batch,
                                    .calibration_count = calibration_count,
                                    .percentile = percentile,
                                    .threads = threads};
        // Caller batches: an iterable of float32 arrays [rows, ...]; the
        // first one's shape is the batch shape, later ones may have fewer rows.
        if (!calibration_batches.is_none() && !calibration_data.empty()) {
          throw py::value_error(
              "calibration_batches and calibration_data are both given; give one (calibration_data "
              "would be ignored)");
        }
        py::iterator batches;
        py::array pending;
        bool have_pending = false;
        auto as_float = [](py::handle item) {
          return py::array(py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(item));
        };
        if (!calibration_batches.is_none()) {
          batches = py::iter(calibration_batches);
          if (batches == py::iterator::sentinel()) throw py::value_error("calibration_batches is empty");
          pending = as_float(*batches);
          if (!pending || pending.ndim() < 1)
            throw py::type_error("calibration batches must be float32 arrays [rows, ...]");
          have_pending = true;
          options.calibration_batch_shape.assign(pending.shape(), pending.shape() + pending.ndim());
          options.calibration_source = [&](std::span<float> batch, std::span<const int64_t> dims) -> int64_t {
            py::gil_scoped_acquire acquire;
            if (!have_pending) {
              ++batches;
              if (batches == py::iterator::sentinel()) return 0;
              pending = as_float(*batches);
            }
            have_pending = false;
            const bool fits = pending && pending.ndim() == static_cast<py::ssize_t>(dims.size()) &&
                              pending.shape(0) <= dims[0] &&
                              std::equal(pending.shape() + 1, pending.shape() + pending.ndim(), dims.begin() + 1);
            if (!fits) throw py::value_error("a calibration batch's shape does not match the first batch's");
            std::memcpy(batch.data(), pending.data(), static_cast<size_t>(pending.size()) * sizeof(float));
            return pending.shape(0);
          };
        }
        py::gil_scoped_release release;
        api::convert(options);
      },
      py::arg("model"), py::arg("output"), py::arg("input_shape") = "", py::arg("precision") = "fp32",
      py::arg("calibration_data") = "", py::arg("preprocess") = "", py::arg("calibration_count") = 0,
      py::arg("calibration_method") = "", py::arg("percentile") = 0.0, py::arg("quant_config") = "",
      py::arg("threads") = 0, py::arg("calibration_batches") = py::none(), py::arg("max_batch") = 0,
      "Convert an ONNX model into a .kestrel model (FP32 or INT8). calibration_batches: an iterable of float32 "
      "arrays [batch, ...] to calibrate on instead of calibration_data. max_batch N: a model that runs every batch "
      "1..N (Model.max_batch).");
}
