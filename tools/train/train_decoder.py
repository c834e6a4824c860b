"""Train imagine-tiny's learned vae_decoder (networks.LearnedDecoder) on paired scene renders.

Usage: nice -n 19 /usr/bin/python3 tools/train/train_decoder.py [--minutes 45] [--steps 2000] [--batch 16]
       (phase 2 of the shipped decoder: --steps 3000 --restart-at 2000 --lr 3e-4 --degrade-share 0.5 --noise-max 0.12)
Input: a scene rendered at 32x32 (scenes.Scenes, seed 100, all subject/colour combinations); target: the same scene
rendered at 256x256. Some inputs are degraded like the UNet's samples (a slight blur and pixel noise) while the
target stays the clean render, so that the decoder sharpens what the UNet really outputs. Loss: mean squared error on
the 256x256 picture in [-1, 1] (what PSNR measures; L1 learned several times slower in a 150-step trial). Adam with a
cosine learning rate; an EMA of the weights is what export_decoder.py exports.
Resumable: every 100 steps and at the end, the state (weights, EMA, optimiser, data generator, elapsed time) goes to
tools/train/.work/decoder_ckpt.pt; re-running continues from there until --steps or --minutes (this run's wall time).
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import WORK, LearnedDecoder, Scenes, load_sprites  # noqa: E402

SEED = 100  # training scenes; the evaluation (eval_decoder.py) uses another seed


def degrade(x: torch.Tensor, g: torch.Generator, share: float = 0.3, noise_max: float = 0.04) -> torch.Tensor:
    """For a share of the batch: Gaussian blur (sigma 0.3-0.8 px at 32x32) and pixel noise (std up to noise_max), the
    softness and grain of the UNet's 20-step samples; the rest stays clean."""
    b = x.shape[0]
    pick = torch.rand(b, generator=g) < share
    if not pick.any():
        return x
    out = x.clone()
    r = torch.arange(-2, 3, dtype=torch.float32)
    for i in torch.nonzero(pick).flatten().tolist():
        sigma = 0.3 + 0.5 * float(torch.rand(1, generator=g))
        k1 = torch.exp(-r ** 2 / (2 * sigma ** 2))
        k1 = k1 / k1.sum()
        k = (k1[:, None] * k1[None]).expand(3, 1, 5, 5).contiguous()
        y = F.conv2d(F.pad(x[i:i + 1], (2, 2, 2, 2), mode='replicate'), k, groups=3)
        y = y + noise_max * float(torch.rand(1, generator=g)) * torch.randn(y.shape, generator=g)
        out[i:i + 1] = y
    return out


def batch(scenes: Scenes, n: int):
    small, large = [], []
    for _ in range(n):
        a, b, _, _ = scenes.sample_paired()
        small.append(a)
        large.append(b)
    to_t = lambda xs: torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2) * 2 - 1  # noqa: E731
    return to_t(small), to_t(large)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=2000)
    ap.add_argument('--minutes', type=float, default=45.0)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--ckpt', default=os.path.join(WORK, 'decoder_ckpt.pt'))
    ap.add_argument('--degrade-share', type=float, default=0.3)
    ap.add_argument('--noise-max', type=float, default=0.04)
    ap.add_argument('--restart-at', type=int, default=0,
                    help='a second phase: the cosine learning rate starts again from --lr at this step')
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    dec = LearnedDecoder()
    ema = copy.deepcopy(dec)
    opt = torch.optim.Adam(dec.parameters(), lr=args.lr)
    scenes = Scenes(load_sprites(), seed=SEED, exclude_heldout=False)
    g = torch.Generator().manual_seed(SEED)
    step, elapsed, losses = 0, 0.0, []
    if os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        dec.load_state_dict(ck['decoder'])
        ema.load_state_dict(ck['ema'])
        opt.load_state_dict(ck['opt'])
        scenes.rng.set_state(ck['scene_rng'])
        g.set_state(ck['degrade_rng'])
        step, elapsed, losses = ck['step'], ck['elapsed'], ck['losses']
        print(f'resumed at step {step} ({elapsed / 60:.1f} min)')

    def save():
        tmp = args.ckpt + '.tmp'
        torch.save(dict(decoder=dec.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), step=step,
                        elapsed=elapsed, losses=losses, scene_rng=scenes.rng.get_state(), degrade_rng=g.get_state(),
                        args=vars(args)), tmp)
        os.replace(tmp, args.ckpt)

    start = time.time()
    t_last = start
    while step < args.steps and time.time() - start < args.minutes * 60:
        progress = (step - args.restart_at) / (args.steps - args.restart_at)
        lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * progress)))
        for group in opt.param_groups:
            group['lr'] = lr
        small, large = batch(scenes, args.batch)
        loss = F.mse_loss(dec(degrade(small, g, args.degrade_share, args.noise_max)), large)
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay = min(0.998, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), dec.parameters()):
                pe.mul_(decay).add_(p, alpha=1 - decay)
        step += 1
        losses.append(float(loss))
        now = time.time()
        elapsed += now - t_last
        t_last = now
        if step % 100 == 0:
            print(f'step {step} loss {np.mean(losses[-100:]):.4f} lr {lr:.2e} {elapsed / 60:.1f} min', flush=True)
            save()
    save()
    print(f'stopped at step {step} after {elapsed / 60:.1f} min of training')


if __name__ == '__main__':
    main()
