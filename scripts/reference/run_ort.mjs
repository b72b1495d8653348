// Run one ONNX model with ONNX Runtime (onnxruntime-node) on one float32 input
// tensor and write its first output as a NumPy .npy (v1.0) file.
//
// Usage: node scripts/reference/run_ort.mjs MODEL.onnx INPUT.bin INPUT.json OUT.npy
//
// INPUT.bin is raw little-endian float32 in C order; INPUT.json holds
// {"shape": [...]} (as written by make_inputs.py). The model must have one
// input; its first output (float32) is written.
//
// Session options are chosen for exactness, not speed: one intra-op thread,
// one inter-op thread, sequential execution and graph optimisations disabled,
// so no fusions or constant folding change the arithmetic of the model as
// written.

import { readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import ort from 'onnxruntime-node';

function die(msg) {
  console.error(`run_ort: ${msg}`);
  process.exit(1);
}

function readInput(binPath, jsonPath) {
  const meta = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const shape = meta.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    die(`${jsonPath}: bad "shape"`);
  }
  if (meta.dtype !== undefined && meta.dtype !== 'float32') {
    die(`${jsonPath}: only float32 inputs are supported, got ${meta.dtype}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const buf = readFileSync(binPath);
  if (buf.length !== count * 4) {
    die(`${binPath}: ${buf.length} bytes, expected ${count * 4} for shape [${shape}]`);
  }
  // Decode explicitly as little-endian (independent of host byte order and
  // of the Buffer's alignment inside Node's pool).
  const data = new Float32Array(count);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
  return new ort.Tensor('float32', data, shape);
}

// NumPy format v1.0: "\x93NUMPY", 0x01 0x00, uint16 LE header length, then an
// ASCII Python dict literal padded with spaces and terminated by "\n" so that
// the whole preamble is a multiple of 64 bytes.
function npyBytes(float32Data, shape) {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const preambleLen = 6 + 2 + 2;
  const unpadded = preambleLen + dict.length + 1; // + "\n"
  const total = Math.ceil(unpadded / 64) * 64;
  dict = dict + ' '.repeat(total - unpadded) + '\n';
  const headerLen = dict.length;
  if (headerLen > 0xffff) die('npy header too long');

  const out = Buffer.alloc(preambleLen + headerLen + float32Data.length * 4);
  out[0] = 0x93;
  out.write('NUMPY', 1, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(headerLen, 8);
  out.write(dict, preambleLen, 'latin1');
  let off = preambleLen + headerLen;
  for (let i = 0; i < float32Data.length; i++, off += 4) out.writeFloatLE(float32Data[i], off);
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length !== 4) {
    die('usage: node run_ort.mjs MODEL.onnx INPUT.bin INPUT.json OUT.npy');
  }
  const [modelPath, binPath, jsonPath, outPath] = args;

  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'disabled',
  });
  if (session.inputNames.length !== 1) {
    die(`${modelPath}: expected one input, got ${session.inputNames.join(', ')}`);
  }
  const input = readInput(binPath, jsonPath);
  const results = await session.run({ [session.inputNames[0]]: input });
  const outName = session.outputNames[0];
  const out = results[outName];
  if (out.type !== 'float32') die(`output ${outName} is ${out.type}, expected float32`);

  writeFileSync(outPath, npyBytes(out.data, out.dims));
  console.log(`${modelPath}: ${session.inputNames[0]} [${input.dims}] -> ` +
              `${outName} [${out.dims}] -> ${outPath}`);
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
