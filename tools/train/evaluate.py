"""Automatic evaluation of imagine-tiny on prompts held out from training.

Usage: /usr/bin/python3 tools/train/evaluate.py [--ckpt PATH] [--steps 20] [--cfg 3]

1. Trains (once, cached in .work/scorer.pt) two small CNN scorers on clean generator renders: a whole-image subject
   classifier (24 classes) and a half-image classifier (24 subjects + "empty") for left/right order.
2. Generates images with the EMA model through EpsUNet (the exact graph exported to unet/model.onnx) and the engine's
   Euler sampler (trailing spacing, CFG), for held-out prompts only:
   - single: "a {subject} on a {colour} background" for the 48 (subject, colour) pairs never captioned in training,
     2 seeds each;
   - pair: "a {A} left of a {B}" / "a {B} right of a {A}" (+ a background) for the 40 unordered subject pairs never
     shown together in training, both orders.
3. Scores: subject right, background colour right (border pixels, nearest palette colour), left and right subject
   right; chance levels next to them. Writes models/imagine-tiny/eval.json and models/imagine-tiny/samples.png.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import (MODEL_DIR, WORK, RES, NS, NC, COLOURS, COLOUR_NAMES, SUBJECT_NAMES, Scenes, article,  # noqa
                    euler_sample, heldout_pairs, heldout_single, load_sprites, slot_targets)
from export import load_ema, DEFAULTS  # noqa: E402


def small_cnn(n_out):
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, n_out))


EMPTY = NS  # half-classifier class for "no subject here"


def scorer_batch(sc: Scenes, n: int, rng):
    full_x, full_y, half_x, half_y = [], [], [], []
    for _ in range(n):
        s = rng.randint(NS)
        c = rng.randint(NC)
        full_x.append(sc.render_single(s, c))
        full_y.append(s)
        a, b = rng.randint(NS), rng.randint(NS)
        while b == a:
            b = rng.randint(NS)
        img = sc.render_pair(a, b, rng.randint(NC))
        half_x += [img[:, :16], img[:, 16:]]
        half_y += [a, b]
        if rng.rand() < 0.25:
            bg = sc.background(rng.randint(NC))
            half_x.append(bg[:, :16])
            half_y.append(EMPTY)

    def t(xs):
        # generations can be noisy or soft: train the scorer on renders with pixel noise (std up to 0.25) and,
        # for half of them, a 3x3 blur, so that it judges the subject rather than the rendering quality
        x = torch.tensor(np.stack(xs)).permute(0, 3, 1, 2) * 2 - 1
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None]) / 16
        blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), k.expand(3, 1, 3, 3).contiguous(), groups=3)
        m = (torch.rand(x.shape[0], 1, 1, 1) < 0.5).float()
        x = m * blurred + (1 - m) * x
        return x + 0.25 * torch.randn_like(x) * torch.rand(x.shape[0], 1, 1, 1)

    return t(full_x), torch.tensor(full_y), t(half_x), torch.tensor(half_y)


def train_scorers(path, steps=1200):
    torch.manual_seed(1)
    sc = Scenes(load_sprites(), seed=11, exclude_heldout=False)
    rng = np.random.RandomState(12)
    full, half = small_cnn(NS), small_cnn(NS + 1)
    opt = torch.optim.Adam(list(full.parameters()) + list(half.parameters()), lr=2e-3)
    for i in range(steps):
        fx, fy, hx, hy = scorer_batch(sc, 64, rng)
        loss = F.cross_entropy(full(fx), fy) + F.cross_entropy(half(hx), hy)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i % 200 == 0:
            print(f'scorer step {i} loss {loss.item():.3f}', flush=True)
    full.eval()
    half.eval()
    with torch.no_grad():  # accuracy on fresh clean renders = the scorer's ceiling
        fx, fy, hx, hy = scorer_batch(Scenes(load_sprites(), seed=99, exclude_heldout=False), 400,
                                      np.random.RandomState(98))
        acc_full = (full(fx).argmax(1) == fy).float().mean().item()
        acc_half = (half(hx).argmax(1) == hy).float().mean().item()
    torch.save(dict(full=full.state_dict(), half=half.state_dict(), acc_full=acc_full, acc_half=acc_half), path)
    return full, half, acc_full, acc_half


def load_scorers():
    path = os.path.join(WORK, 'scorer.pt')
    if not os.path.exists(path):
        return train_scorers(path)
    ck = torch.load(path)
    full, half = small_cnn(NS), small_cnn(NS + 1)
    full.load_state_dict(ck['full'])
    half.load_state_dict(ck['half'])
    return full.eval(), half.eval(), ck['acc_full'], ck['acc_half']


def bg_colour(img):
    """img [3, 32, 32] in [-1, 1] -> index of the nearest palette colour to the median of the 2-px border."""
    x = ((img.permute(1, 2, 0).numpy() + 1) / 2 * 255)
    border = np.concatenate([x[:2].reshape(-1, 3), x[-2:].reshape(-1, 3), x[:, :2].reshape(-1, 3),
                             x[:, -2:].reshape(-1, 3)])
    med = np.median(border, axis=0)
    pal = np.array([c for _, c in COLOURS], np.float32)
    return int(np.argmin(((pal - med) ** 2).sum(1)))


def score_singles_and_pairs(singles, pairs, gs, gp, subj, half, ps, pp) -> dict:
    """The 'single' and 'pair' sections of eval.json: singles (prompt, subject, colour, _) generated as gs with
    predicted subjects subj; pairs (prompt, left, right, colour) generated as gp, whose halves the half-image scorer
    reads; ps, pp: permutations of the two prompt lists for the shuffled-prompt baseline. evaluate_v2.py scores
    each language's v1-style prompts with it too."""
    with torch.no_grad():
        left = half(gp[:, :, :, :16]).argmax(1).numpy()
        right = half(gp[:, :, :, 16:]).argmax(1).numpy()
    s_true = np.array([p[1] for p in singles])
    c_true = np.array([p[2] for p in singles])
    c_pred = np.array([bg_colour(im) for im in gs])
    a_true = np.array([p[1] for p in pairs])
    b_true = np.array([p[2] for p in pairs])
    pc_true = np.array([p[3] for p in pairs])
    pc_pred = np.array([bg_colour(im) for im in gp])
    return {
        'single': {
            'n': len(singles),
            'subject_correct': float((subj == s_true).mean()),
            'background_correct': float((c_pred == c_true).mean()),
            'subject_and_background_correct': float(((subj == s_true) & (c_pred == c_true)).mean()),
            'chance_subject': 1 / NS, 'chance_background': 1 / NC,
            'shuffled_prompt_subject': float((subj == s_true[ps]).mean()),
        },
        'pair': {
            'n': len(pairs),
            'both_subjects_in_right_order': float(((left == a_true) & (right == b_true)).mean()),
            'both_subjects_any_order': float((((left == a_true) & (right == b_true)) |
                                              ((left == b_true) & (right == a_true))).mean()),
            'left_correct': float((left == a_true).mean()), 'right_correct': float((right == b_true).mean()),
            'background_correct': float((pc_pred == pc_true).mean()),
            'chance_right_order': 1 / (NS * (NS - 1)),
            'shuffled_prompt_right_order': float(((left == a_true[pp]) & (right == b_true[pp])).mean()),
        },
    }


def eval_prompts():
    rng = np.random.RandomState(2024)
    singles = []
    for (s, c) in sorted(heldout_single()):
        name = SUBJECT_NAMES[s]
        p = f'{article(name)} {name} on a {COLOUR_NAMES[c]} background'
        singles += [(p, s, c, 0), (p, s, c, 1)]
    pairs = []
    for pr in sorted(tuple(sorted(p)) for p in heldout_pairs()):
        for a, b in (pr, pr[::-1]):
            A, B = SUBJECT_NAMES[a], SUBJECT_NAMES[b]
            c = rng.randint(NC)
            if len(pairs) % 2 == 0:
                p = f'{article(A)} {A} left of {article(B)} {B} on a {COLOUR_NAMES[c]} background'
            else:
                p = f'{article(B)} {B} right of {article(A)} {A} on a {COLOUR_NAMES[c]} background'
            pairs.append((p, a, b, c))
    return singles, pairs


def generate(tok, te, eps, prompts, seeds, steps, cfg, chunk=32):
    out = []
    uncond_ids = torch.tensor([tok('')])
    with torch.no_grad():
        uncond1 = te(uncond_ids)
        for i in range(0, len(prompts), chunk):
            ps, ss = prompts[i:i + chunk], seeds[i:i + chunk]
            cond = te(torch.tensor([tok(p) for p in ps]))
            noise = torch.stack([torch.randn(3, RES, RES, generator=torch.Generator().manual_seed(int(s)))
                                 for s in ss])
            out.append(euler_sample(eps, cond, uncond1.expand(len(ps), -1, -1), steps, cfg, noise))
    return torch.cat(out).clamp(-1, 1)


def slot_routing(tok, table, te, eps, singles, pairs):
    """Share of prompts whose slot field picks exactly the right token for every place (left, right, centre; BOS =
    nothing there): whether the text side of "where" works, apart from how well the subjects are drawn."""
    rows = lambda p: [int(table[i]) for i in tok(p)]  # noqa: E731
    expected = [slot_targets(rows(p), table, tok, centre=s) for p, s, _, _ in singles]
    expected += [slot_targets(rows(p), table, tok, left=a, right=b) for p, a, b, _ in pairs]
    prompts = [p[0] for p in singles + pairs]
    with torch.no_grad():
        picked = eps.unet.slots.scores(te(torch.tensor([tok(p) for p in prompts]))).argmax(-1)
    return float((picked == torch.tensor(expected)).all(dim=1).float().mean())


def grid_png(imgs, captions, path, cols=4, tile=128):
    from PIL import Image, ImageDraw
    rows = (len(imgs) + cols - 1) // cols
    cap_h = 24
    canvas = Image.new('RGB', (cols * tile, rows * (tile + cap_h)), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    for k, (im, cap) in enumerate(zip(imgs, captions)):
        arr = ((im.permute(1, 2, 0).numpy() + 1) / 2 * 255).round().clip(0, 255).astype(np.uint8)
        t = Image.fromarray(arr).resize((tile, tile), Image.BILINEAR)
        x, y = (k % cols) * tile, (k // cols) * (tile + cap_h)
        canvas.paste(t, (x, y))
        lines, cur = [], ''
        for w in cap.replace(' background', ' bg').split():
            if len(cur) + len(w) + 1 > 21 and cur:
                lines.append(cur)
                cur = w
            else:
                cur = f'{cur} {w}'.strip()
        lines.append(cur)
        for li, line in enumerate(lines[:2]):
            d.text((x + 3, y + tile + 1 + 11 * li), line, fill=(0, 0, 0))
    canvas.save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.join(WORK, 'ckpt.pt'))
    ap.add_argument('--steps', type=int, default=DEFAULTS['steps'])
    ap.add_argument('--cfg', type=float, default=DEFAULTS['cfg'])
    ap.add_argument('--out', default=os.path.join(MODEL_DIR, 'eval.json'))
    ap.add_argument('--grid', default=os.path.join(MODEL_DIR, 'samples.png'))
    ap.add_argument('--quick', action='store_true', help='half the prompts (progress checks during training)')
    args = ap.parse_args()
    torch.set_num_threads(2)
    full, half, acc_full, acc_half = load_scorers()
    tok, table, te, eps, step, elapsed = load_ema(args.ckpt)
    singles, pairs = eval_prompts()
    if args.quick:
        singles, pairs = singles[::2], pairs[::2]
    t0 = time.time()
    gs = generate(tok, te, eps, [p[0] for p in singles], [1000 + i for i in range(len(singles))], args.steps, args.cfg)
    gp = generate(tok, te, eps, [p[0] for p in pairs], [5000 + i for i in range(len(pairs))], args.steps, args.cfg)
    gen_s = time.time() - t0
    with torch.no_grad():
        subj = full(gs).argmax(1).numpy()
    # empirical chance: the same images scored against the targets of a shuffled prompt list
    rng = np.random.RandomState(0)
    ps, pp = rng.permutation(len(singles)), rng.permutation(len(pairs))
    res = {
        'checkpoint_step': step, 'training_minutes': round(elapsed / 60, 1),
        'sampler': 'euler (trailing)', 'steps': args.steps, 'cfg': args.cfg,
        **score_singles_and_pairs(singles, pairs, gs, gp, subj, half, ps, pp),
        'slot_routing_correct': slot_routing(tok, table, te, eps, singles, pairs),
        'scorer_accuracy_on_clean_renders': {'whole_image_subject': acc_full, 'half_image_subject': acc_half},
        'targets': {'single_subject': 0.8, 'pair_subject_and_relation': 0.5},
        'torch_generation_seconds_per_image': round(gen_s / (len(singles) + len(pairs)), 3),
    }
    with open(args.out, 'w') as f:
        json.dump(res, f, indent=2)
        f.write('\n')
    print(json.dumps(res, indent=2))
    if args.grid:
        idx_s = list(range(0, len(singles), 12))[:8]
        idx_p = [i + k % 2 for k, i in enumerate(range(0, len(pairs), 10))][:8]  # both "left of" and "right of"
        imgs = [gs[i] for i in idx_s] + [gp[i] for i in idx_p]
        caps = [singles[i][0] for i in idx_s] + [pairs[i][0] for i in idx_p]
        grid_png(imgs, caps, args.grid)
        print('wrote', args.grid)


if __name__ == '__main__':
    main()
