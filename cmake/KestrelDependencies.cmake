# Finds every library Kestrel builds against. A missing one stops the
# configure step with one line naming the Debian package that provides it
# (scripts/setup.sh installs them all), instead of an error from deep inside
# another package's CMake config.

function(kestrel_missing_package what debian_package)
  message(FATAL_ERROR "Kestrel: ${what} not found: install the Debian package ${debian_package} "
                      "(bash scripts/setup.sh installs every package Kestrel needs)")
endfunction()

find_package(Threads REQUIRED)
find_package(ONNX QUIET)
if(NOT ONNX_FOUND)
  kestrel_missing_package("ONNX (CMake package ONNX)" libonnx-dev)
endif()
find_package(Protobuf QUIET)
if(NOT Protobuf_FOUND OR NOT Protobuf_PROTOC_EXECUTABLE)
  kestrel_missing_package("protobuf (library and protoc)" "libprotobuf-dev protobuf-compiler")
endif()
find_package(nlohmann_json QUIET)
if(NOT nlohmann_json_FOUND)
  kestrel_missing_package("nlohmann_json" nlohmann-json3-dev)
endif()
find_package(ZLIB QUIET)
if(NOT ZLIB_FOUND)
  kestrel_missing_package("zlib" zlib1g-dev)
endif()
find_program(FLATC_EXECUTABLE flatc)  # FlatBuffers itself is header-only here
find_path(KESTREL_FLATBUFFERS_INCLUDE flatbuffers/flatbuffers.h)
if(NOT FLATC_EXECUTABLE OR NOT KESTREL_FLATBUFFERS_INCLUDE)
  kestrel_missing_package("FlatBuffers (flatc and headers)" "flatbuffers-compiler libflatbuffers-dev")
endif()
find_path(KESTREL_STB_INCLUDE stb/stb_image.h)
if(NOT KESTREL_STB_INCLUDE)
  kestrel_missing_package("stb_image.h" libstb-dev)
endif()
find_path(KESTREL_CLI11_INCLUDE CLI/CLI.hpp)
if(NOT KESTREL_CLI11_INCLUDE)
  kestrel_missing_package("CLI11" libcli11-dev)
endif()
# cpp-httplib (kestrel serve). Debian builds it as a library with OpenSSL,
# zlib and brotli support; its pkg-config file carries the matching defines.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(CPPHTTPLIB QUIET IMPORTED_TARGET cpp-httplib>=0.11)
endif()
if(NOT CPPHTTPLIB_FOUND)
  kestrel_missing_package("cpp-httplib (pkg-config cpp-httplib, with pkg-config itself)" "libcpp-httplib-dev pkg-config")
endif()
# gRPC++ (kestrel serve's gRPC endpoint): the library through pkg-config
# (Debian's gRPC CMake config drags in absl/re2/c-ares configs), and protoc's
# C++ plugin to generate the service from grpc_predict_v2.proto.
pkg_check_modules(GRPCPP QUIET IMPORTED_TARGET grpc++>=1.16)
if(NOT GRPCPP_FOUND)
  kestrel_missing_package("gRPC++ (pkg-config grpc++)" libgrpc++-dev)
endif()
find_program(KESTREL_GRPC_CPP_PLUGIN grpc_cpp_plugin)
if(NOT KESTREL_GRPC_CPP_PLUGIN)
  kestrel_missing_package("grpc_cpp_plugin (protoc's gRPC C++ generator)" protobuf-compiler-grpc)
endif()
# Debian's libdnnl-dev only recommends ocl-icd-opencl-dev, but its CMake
# config calls find_package(OpenCL REQUIRED).
find_package(OpenCL QUIET)
if(NOT OpenCL_FOUND)
  kestrel_missing_package("OpenCL (needed by oneDNN's CMake config)" ocl-icd-opencl-dev)
endif()
find_package(dnnl CONFIG QUIET)
if(NOT dnnl_FOUND)
  kestrel_missing_package("oneDNN (CMake package dnnl)" libdnnl-dev)
endif()
if(KESTREL_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    kestrel_missing_package("GoogleTest" "libgtest-dev libgmock-dev")
  endif()
endif()
