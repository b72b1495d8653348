"""ONNX Runtime's static INT8 form of an ONNX model, for the peers' INT8 rows.

  build/peers/bin/python bench/quantize_ort.py MODEL.onnx CALIBRATION.npy OUT.onnx

quantize_static in its fastest form on x86 (QDQ, per-channel int8 weights,
uint8 activations), calibrated with MinMax on every row of CALIBRATION.npy
(float32 [N, C, H, W], one image per calibration step) as the model's first
input. OpenVINO runs the same QDQ file as INT8. Prints one line naming the
output.
"""

import sys

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)


class Rows(CalibrationDataReader):
    def __init__(self, name, images):
        self.name = name
        self.rows = iter(images[i:i + 1] for i in range(images.shape[0]))

    def get_next(self):
        row = next(self.rows, None)
        return None if row is None else {self.name: row}


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, calibration, out = sys.argv[1:]
    images = np.load(calibration).astype(np.float32)
    name = onnx.load(model, load_external_data=False).graph.input[0].name
    quantize_static(model, out, Rows(name, images), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    print(f"quantize_ort: {model} -> {out} (QDQ, per-channel s8 weights, u8 activations, {images.shape[0]} images)")


if __name__ == "__main__":
    main()
