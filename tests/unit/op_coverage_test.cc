// The op set Kestrel promises (enough for the common torchvision
// classifiers); the conformance runner treats tests of unregistered ops as
// out of scope, so this keeps an op from silently leaving the table.
#include <gtest/gtest.h>

#include "kernels/op_registry.h"

namespace kestrel {
namespace {

TEST(OpCoverage, EveryPromisedOpIsRegistered) {
  const char* promised[] = {"Conv",
                            "BatchNormalization",
                            "Relu",
                            "LeakyRelu",
                            "PRelu",
                            "Clip",
                            "Sigmoid",
                            "HardSigmoid",
                            "HardSwish",
                            "Tanh",
                            "Erf",
                            "Add",
                            "Sub",
                            "Mul",
                            "Div",
                            "Pow",
                            "Sqrt",
                            "MaxPool",
                            "AveragePool",
                            "GlobalAveragePool",
                            "GlobalMaxPool",
                            "ReduceMean",
                            "Gemm",
                            "MatMul",
                            "Flatten",
                            "Reshape",
                            "Transpose",
                            "Concat",
                            "Split",
                            "Slice",
                            "Pad",
                            "Resize",
                            "Softmax",
                            "Squeeze",
                            "Unsqueeze",
                            "Shape",
                            "Gather",
                            "Constant",
                            "Identity",
                            "Dropout",
                            "Cast",
                            "QuantizeLinear",
                            "DequantizeLinear"};
  for (const char* op : promised) {
    const OpDef* def = OpRegistry::global().find(op);
    ASSERT_NE(def, nullptr) << op << " is not registered";
    EXPECT_NE(def->infer, nullptr) << op;
  }
}

}  // namespace
}  // namespace kestrel
