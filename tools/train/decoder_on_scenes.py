"""How the shipped learned decoder (trained on flat-colour scenes in v2's first step) does on each v2 background.

Usage: /usr/bin/python3 tools/train/decoder_on_scenes.py
Loads vae_decoder/model.onnx's weights into LearnedDecoder (warmstart.recover), renders 6 one-subject scenes per
background at 32x32 and 256x256 (generator seed 2026) and prints the PSNR of bilinear x8 and of the decoder against
the 256x256 render.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import MODEL_DIR, load_sprites  # noqa: E402
from networks import LearnedDecoder  # noqa: E402
from scenes_v2 import NB, ScenesV2, background_name  # noqa: E402
from warmstart import recover  # noqa: E402


def main():
    torch.set_num_threads(2)
    dec = LearnedDecoder()
    recover(dec, dec, (torch.randn(1, 3, 32, 32),), ['latent_sample'],
            os.path.join(MODEL_DIR, 'vae_decoder', 'model.onnx'))
    dec.eval()
    sc = ScenesV2(load_sprites(), seed=2026, exclude_heldout=False)
    psnr = lambda out, ref: 10 * np.log10(4 / float(((out - ref) ** 2).mean()))  # noqa: E731  ([-1, 1] range)
    print('| background | bilinear x8 | learned | gain |\n| --- | --- | --- | --- |')
    with torch.no_grad():
        for b in range(NB):
            rows = []
            for k in range(6):
                small = torch.tensor(sc.render_wearer(k % 24, b, None)).permute(2, 0, 1)[None] * 2 - 1
                large = torch.tensor(sc.render_large(8)).permute(2, 0, 1)[None] * 2 - 1
                bil = F.interpolate(small, scale_factor=8.0, mode='bilinear', align_corners=False).clamp(-1, 1)
                rows.append((psnr(bil, large), psnr(dec(small), large)))
            bil_db, dec_db = np.mean(rows, axis=0)
            print(f'| {background_name(b)} | {bil_db:.2f} dB | {dec_db:.2f} dB | {dec_db - bil_db:+.2f} dB |')


if __name__ == '__main__':
    main()
