/**
 * Writes models/imagine-tiny/vae_encoder/model.onnx: an encoder for the bundled model. The model works in pixel
 * space (its latents are the picture at 1/8 size, RGB in [-1, 1]), so the encoder is an 8×8 average pool, with no
 * weights at all. It is the exact inverse of a ×8 bilinear upscale (v1's decoder) and an approximate inverse of v2's
 * learned decoder (bilinear plus a learned sharpening: flat colour goes round exactly, outlines nearly). With it the
 * default model can start from a picture: img2img, inpainting, Zoom Out, pan and the Vary buttons.
 *
 *   npx tsx tools/train/vae-encoder.ts [models/imagine-tiny]
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { GraphBuilder } from '../../test/fixtures/onnx-graph.js';

const modelDir = path.resolve(process.argv[2] ?? 'models/imagine-tiny');
const { upscale } = JSON.parse(readFileSync(path.join(modelDir, 'vae_decoder', 'config.json'), 'utf8')) as { upscale: number };
const g = new GraphBuilder();
g.op('AveragePool', ['sample'], { kernel_shape: [upscale, upscale], strides: [upscale, upscale] }, 'latent_sample');
const model = g.build([{ name: 'sample', type: 'float32', shape: ['batch', 3, 'height', 'width'] }], [{ name: 'latent_sample', type: 'float32', shape: ['batch', 3, 'latent_height', 'latent_width'] }]);
mkdirSync(path.join(modelDir, 'vae_encoder'), { recursive: true });
writeFileSync(path.join(modelDir, 'vae_encoder', 'model.onnx'), model);
const indexFile = path.join(modelDir, 'model_index.json');
const index = JSON.parse(readFileSync(indexFile, 'utf8')) as Record<string, unknown>;
index.vae_encoder = ['diffusers', 'OnnxRuntimeModel'];
writeFileSync(indexFile, `${JSON.stringify(index, null, 2)}\n`);
console.log(`wrote ${path.join(modelDir, 'vae_encoder', 'model.onnx')} (${model.byteLength} bytes)`);
