"""Export the learned vae_decoder (EMA weights of tools/train/.work/decoder_ckpt.pt) to models/imagine-tiny/vae_decoder/.

Usage: /usr/bin/python3 tools/train/export_decoder.py [--ckpt PATH]
Writes vae_decoder/model.onnx (opset 14, fp32; latent_sample [B, 3, H, W] -> sample [B, 3, 8H, 8W] in [-1, 1], the
same names, dtypes and shapes as v1's bilinear decoder) and vae_decoder/config.json, and saves decoder parity
vectors to tools/train/.work/parity/decoder.json for tools/train/parity.mjs.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODEL_DIR, RES, SCALING_FACTOR, UPSCALE, WORK, LearnedDecoder, Scenes, load_sprites  # noqa: E402

DECODER_CONFIG = {
    '_class_name': 'PixelLearnedDecoder', 'scaling_factor': SCALING_FACTOR, 'latent_channels': 3, 'upscale': UPSCALE,
    'note': 'pixel-space model: latents are RGB in [-1, 1] (the picture at 32x32); the decoder is a small learned x8 '
            'upscaler (bilinear x8 plus a learned correction, tools/train/train_decoder.py). vae_encoder is an 8x8 '
            'average pool: the exact inverse of the bilinear part only, so encode -> decode is close to, not exactly, '
            'the identity.'}


def load_decoder(ckpt_path: str):
    ck = torch.load(ckpt_path)
    dec = LearnedDecoder()
    dec.load_state_dict(ck['ema'])
    return dec.eval(), ck['step'], ck['elapsed']


def export(dec: torch.nn.Module, folder: str, example: torch.Tensor):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'model.onnx')
    torch.onnx.export(dec, (example,), path, input_names=['latent_sample'], output_names=['sample'],
                      dynamic_axes={'latent_sample': {0: 'batch', 2: 'height', 3: 'width'},
                                    'sample': {0: 'batch', 2: 'out_height', 3: 'out_width'}},
                      opset_version=14, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(path)
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(DECODER_CONFIG, f, indent=2)
        f.write('\n')
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.join(WORK, 'decoder_ckpt.pt'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    dec, step, elapsed = load_decoder(args.ckpt)
    # parity inputs: a render (what the decoder is for) and Gaussian noise (values outside [-1, 1] included)
    render = Scenes(load_sprites(), seed=7, exclude_heldout=False).sample()[0]
    noise = torch.randn(1, 3, RES, RES, generator=torch.Generator().manual_seed(7))
    x = torch.cat([torch.from_numpy(render).permute(2, 0, 1)[None] * 2 - 1, noise])
    with torch.no_grad():
        y = dec(x)
    path = export(dec, os.path.join(MODEL_DIR, 'vae_decoder'), x)
    pdir = os.path.join(WORK, 'parity')
    os.makedirs(pdir, exist_ok=True)
    with open(os.path.join(pdir, 'decoder.json'), 'w') as f:
        json.dump({'latent_sample': x.flatten().tolist(), 'dims': list(x.shape), 'sample': y.flatten().tolist(),
                   'step': step}, f)
    n_params = sum(p.numel() for p in dec.parameters())
    print(f'exported decoder step {step} ({elapsed / 60:.1f} min of training, {n_params} parameters) to {path} '
          f'({os.path.getsize(path) / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
