#!/usr/bin/env node
// nsfwjs_to_raw.js - dump the Keras MobileNetV2 weights shipped in the npm
// package nsfwjs@4.4.0 (dist/models/mobilenet_v2) as dequantised float32.
//
//   node analysis/nsfwjs_to_raw.js MODEL_DIR OUT_DIR
//
// MODEL_DIR holds model.min.js and group1-shard1of1.min.js. Each is a
// browserify wrapper whose module exports one value: model.min.js exports
// the tfjs {modelTopology, weightsManifest} (a JS object literal, so we
// require() it instead of parsing JSON); the shard exports one base64 string
// that decodes to the tfjs weight binary: the tensors of the manifest in
// order, each uint8-quantised with its own min/scale (value = min + scale*q).
// Writes OUT_DIR/weights.f32 (little-endian float32, tensors back to back,
// Keras layouts: kernels HWIO, depthwise [kh,kw,C,1]) and OUT_DIR/index.json
// ({tensors: [{name, shape, offset}], trainable: {layer: bool}}).
// analysis/convert_torchvision.py --nsfwjs-raw OUT_DIR turns them into our
// weights file.
'use strict';
const fs = require('fs');
const path = require('path');

const [modelDir, outDir] = process.argv.slice(2);
if (!modelDir || !outDir) {
  console.error('usage: node nsfwjs_to_raw.js MODEL_DIR OUT_DIR');
  process.exit(2);
}
const model = require(path.resolve(modelDir, 'model.min.js'));
const shard = require(path.resolve(modelDir, 'group1-shard1of1.min.js'));
if (!model.weightsManifest || typeof shard !== 'string') {
  console.error('unexpected package layout: no weightsManifest or no base64 shard');
  process.exit(3);
}
const bin = Buffer.from(shard, 'base64');
const specs = [].concat(...model.weightsManifest.map((g) => g.weights));
let total = 0;
for (const s of specs) total += s.shape.reduce((a, b) => a * b, 1);
const out = new Float32Array(total);
const tensors = [];
let src = 0, dst = 0;
for (const s of specs) {
  const n = s.shape.reduce((a, b) => a * b, 1);
  const q = s.quantization;
  if (!q || q.dtype !== 'uint8') {
    console.error(`${s.name}: expected uint8 quantisation, got ${JSON.stringify(q)}`);
    process.exit(3);
  }
  for (let i = 0; i < n; i++) out[dst + i] = q.min + q.scale * bin[src + i];
  tensors.push({ name: s.name, shape: s.shape, offset: dst });
  src += n;
  dst += n;
}
if (src !== bin.length) {
  console.error(`weight binary has ${bin.length} bytes, manifest describes ${src}`);
  process.exit(3);
}
const layers = (model.modelTopology.model_config || model.modelTopology).config.layers;
const trainable = {};
for (const l of layers) trainable[l.config.name] = !!l.config.trainable;
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'weights.f32'), Buffer.from(out.buffer));
fs.writeFileSync(path.join(outDir, 'index.json'), JSON.stringify({ tensors, trainable }, null, 1));
const frozen = layers.filter((l) => !l.config.trainable).map((l) => l.config.name);
console.log(`${tensors.length} tensors, ${total} values; frozen layers ${frozen[1]} .. ` +
            `${frozen[frozen.length - 1]}; trainable from ${layers.find((l) => l.config.trainable).config.name}`);
