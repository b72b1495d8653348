// Times ONNX Runtime (onnxruntime-node) on one model, batch B, T threads,
// with random float inputs; prints one JSON object like `kestrel bench --json`.
//   node ort_bench.mjs MODEL.onnx BATCH THREADS ITERATIONS WARMUP
import ort from 'onnxruntime-node';

const [model, batchArg, threadsArg, itersArg, warmupArg] = process.argv.slice(2);
const batch = Number(batchArg), threads = Number(threadsArg);
const iterations = Number(itersArg ?? 50), warmup = Number(warmupArg ?? 5);

const loadStart = performance.now();
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});
const loadMs = performance.now() - loadStart;

const feeds = {};
for (const name of session.inputNames) {
  const meta = session.inputMetadata?.find?.((m) => m.name === name);
  const dims = meta?.shape?.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batch : 1)) ?? [batch, 3, 224, 224];
  dims[0] = batch;
  const size = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; ++i) data[i] = Math.sin(i * 0.37);
  feeds[name] = new ort.Tensor('float32', data, dims);
}
for (let i = 0; i < warmup; ++i) await session.run(feeds);
const times = [];
for (let i = 0; i < iterations; ++i) {
  const start = performance.now();
  await session.run(feeds);
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const pick = (f) => times[Math.min(times.length - 1, Math.floor(f * times.length))];
console.log(JSON.stringify({
  model, runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(), load_ms: loadMs, batch, threads,
  latency_ms: { min: times[0], median: pick(0.5), p90: pick(0.9), p99: pick(0.99) },
  throughput_ips: (1000 * batch) / pick(0.5),
}));
