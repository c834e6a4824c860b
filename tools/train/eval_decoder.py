"""Evaluate the learned vae_decoder against v1's bilinear one on held-out scenes.

Usage: /usr/bin/python3 tools/train/eval_decoder.py [--ckpt PATH] [--n 256] [--seed 2026]
For n scenes with at least one subject from the generator with a seed the training never used (train_decoder.py draws
seed 100), each scene is rendered at 32x32 and at 256x256; both decoders turn the 32x32 render into 256x256 and are
compared with the 256x256 render: PSNR (peak 1 on [0, 1] pixels, mean over scenes of the per-scene PSNR). Scenes
that are only a background are left out of the mean (the bilinear decoder reproduces a flat picture exactly: infinite
PSNR); for them the table says how far the learned decoder strays from flat instead. A second row does the same from
32x32 inputs degraded like the UNet's samples (Gaussian blur sigma 0.5 px and noise std 0.02), a third with grain
as strong as in the UNet's samples (noise std 0.08), still against the clean render. Also: how far the 8x8 mean of each decoder's output is from its 32x32 input (what a 32x32 scorer
or the 8x8-average-pool vae_encoder sees of it). Prints a table, writes the "decoder" section of models/imagine-tiny/eval.json and a comparison picture
(models/imagine-tiny/decoder.png: 32x32 input, bilinear, learned, 256x256 render).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MODEL_DIR, WORK, Decoder, Scenes, load_sprites  # noqa: E402
from export_decoder import load_decoder  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of pictures in [-1, 1], measured on [0, 1] pixels."""
    mse = (((a - b) / 2) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def degrade_fixed(x: torch.Tensor, sigma: float = 0.5, noise: float = 0.02, seed: int = 5) -> torch.Tensor:
    r = torch.arange(-2, 3, dtype=torch.float32)
    k1 = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k1 = k1 / k1.sum()
    k = (k1[:, None] * k1[None]).expand(3, 1, 5, 5).contiguous()
    y = F.conv2d(F.pad(x, (2, 2, 2, 2), mode='replicate'), k, groups=3)
    return y + noise * torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))


def comparison_png(small, bil, learned, large, path, rows=4):
    from PIL import Image
    to_img = lambda t: Image.fromarray(((t.permute(1, 2, 0).numpy() + 1) / 2 * 255).round().clip(0, 255)  # noqa
                                       .astype(np.uint8))
    canvas = Image.new('RGB', (4 * 256, rows * 256), (255, 255, 255))
    for r in range(rows):
        canvas.paste(to_img(small[r]).resize((256, 256), Image.NEAREST), (0, r * 256))
        for c, t in enumerate((bil, learned, large), start=1):
            canvas.paste(to_img(t[r]), (c * 256, r * 256))
    canvas.save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.join(WORK, 'decoder_ckpt.pt'))
    ap.add_argument('--n', type=int, default=256)
    ap.add_argument('--seed', type=int, default=2026)
    ap.add_argument('--out', default=os.path.join(MODEL_DIR, 'eval.json'))
    ap.add_argument('--picture', default=os.path.join(MODEL_DIR, 'decoder.png'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    learned, step, elapsed = load_decoder(args.ckpt)
    bilinear = Decoder()
    scenes = Scenes(load_sprites(), seed=args.seed, exclude_heldout=False)
    small, large, flat = [], [], []
    while len(small) < args.n:
        a, b, _, labels = scenes.sample_paired()
        if labels['kind'] == 0:
            flat.append(a)
            continue
        small.append(a)
        large.append(b)
    flat = torch.from_numpy(np.stack(flat)).permute(0, 3, 1, 2) * 2 - 1
    small = torch.from_numpy(np.stack(small)).permute(0, 3, 1, 2) * 2 - 1
    large = torch.from_numpy(np.stack(large)).permute(0, 3, 1, 2) * 2 - 1
    rows = {}
    with torch.no_grad():
        for name, inp in (('clean', small), ('degraded', degrade_fixed(small)), ('grainy', degrade_fixed(small, noise=0.08))):
            pb = torch.cat([psnr(bilinear(inp[i:i + 32]), large[i:i + 32]) for i in range(0, args.n, 32)])
            pl = torch.cat([psnr(learned(inp[i:i + 32]), large[i:i + 32]) for i in range(0, args.n, 32)])
            rows[name] = {'bilinear_db': round(float(pb.mean()), 2), 'learned_db': round(float(pl.mean()), 2),
                          'gain_db': round(float((pl - pb).mean()), 2),
                          'scenes_where_learned_is_better': round(float((pl > pb).float().mean()), 4)}
        # what a 32x32 scorer (evaluate.py) or the vae_encoder would see of each decoder's picture: its 8x8 mean,
        # against the 32x32 input, mean absolute difference in 8-bit levels
        pool = lambda dec: torch.cat([F.avg_pool2d(dec(small[i:i + 32]), 8) for i in range(0, args.n, 32)])  # noqa
        round_trip = {name: round(float(((pool(dec) - small) / 2 * 255).abs().mean()), 2)
                      for name, dec in (('bilinear', bilinear), ('learned', learned))}
        out = learned(flat)
        # largest deviation from the flat colour, in 8-bit levels
        flat_err = float(((out - F.interpolate(flat, scale_factor=8.0)) / 2 * 255).abs().max())
        if args.picture:
            idx = [0, 1, 2, 3]
            comparison_png(small[idx], bilinear(small[idx]), learned(small[idx]), large[idx], args.picture)
    print(f'vae_decoder on {args.n} held-out scenes with subjects (seed {args.seed}), PSNR against the 256x256 render:')
    print('| input | bilinear (v1) | learned (v2) | gain | scenes where learned is better |')
    print('| --- | --- | --- | --- | --- |')
    for name, r in rows.items():
        print(f"| {name} | {r['bilinear_db']:.2f} dB | {r['learned_db']:.2f} dB | {r['gain_db']:+.2f} dB | "
              f"{100 * r['scenes_where_learned_is_better']:.1f} % |")
    print(f"8x8 mean of the decoded picture vs the 32x32 input (mean |diff|, 0-255): bilinear {round_trip['bilinear']}, "
          f"learned {round_trip['learned']}")
    print(f'background-only scenes ({len(flat)}): the learned decoder strays at most {flat_err:.2f}/255 from flat')
    ev = json.load(open(args.out)) if os.path.exists(args.out) else {}
    ev['decoder'] = {
        'scenes': args.n, 'seed': args.seed,
        'metric': 'PSNR (dB) against the 256x256 render, mean over held-out scenes with at least one subject',
        'clean_input': rows['clean'],
        'degraded_input': dict(rows['degraded'], degradation='Gaussian blur sigma 0.5 px + noise std 0.02 at 32x32'),
        'grainy_input': dict(rows['grainy'], degradation='Gaussian blur sigma 0.5 px + noise std 0.08 at 32x32 (the '
                                                         "grain of the UNet's 20-step samples: 0.05-0.15)"),
        'background_only_scenes': {'n': len(flat), 'learned_max_deviation_from_flat_255': round(flat_err, 2)},
        'pooled_back_to_32_mean_abs_diff_255': round_trip,
        'target_gain_db': 6.0, 'training_step': step, 'training_minutes': round(elapsed / 60, 1),
        'parameters': sum(p.numel() for p in learned.parameters()),
    }
    with open(args.out, 'w') as f:
        json.dump(ev, f, indent=2)
        f.write('\n')
    print('wrote', args.out, 'and', args.picture)


if __name__ == '__main__':
    main()
