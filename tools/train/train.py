"""Train imagine-tiny: x0-prediction (EDM preconditioning) pixel-space diffusion on generated emoji scenes.

Usage: nice -n 19 /usr/bin/python3 tools/train/train.py [--steps N] [--minutes M] [--seed S]
Resumes from tools/train/.work/ckpt.pt when it exists (model, EMA, optimizer, data and torch RNG states).
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import (WORK, SIGMAS, SIGMA_DATA, N_TRAIN, ROW_PAD, ROW_UNK, ClipTokenizer, Scenes,  # noqa: E402
                    build_index_table, build_models, denoise, load_sprites, sigma_of_t, slot_targets)

p = argparse.ArgumentParser()
p.add_argument('--steps', type=int, default=6000)
p.add_argument('--minutes', type=float, default=1e9, help='stop (with a checkpoint) after this many minutes')
p.add_argument('--batch', type=int, default=48)
p.add_argument('--lr', type=float, default=5e-4)
p.add_argument('--seed', type=int, default=0)
p.add_argument('--ckpt', default=os.path.join(WORK, 'ckpt.pt'))
p.add_argument('--save-every', type=int, default=100)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--switch-step', type=int, default=1000,
               help='from this step on: plain x0 MSE (no low-noise up-weighting) with sprite pixels weighted x5')
p.add_argument('--mask-weight', type=float, default=4.0)
p.add_argument('--pool-step', type=int, default=1500, help='from this step on, the pooled-text path is on')
p.add_argument('--slot-step', type=int, default=4206,
               help='from this step on, the spatial slot field is on and two-subject scenes are 55 %% of the data')
p.add_argument('--slot-aux', type=float, default=0.05,
               help="weight of the loss that tells the slot field which token names the thing at each place")
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
tok = ClipTokenizer()
table, rows = build_index_table(tok)
te, unet = build_models(rows)
params = list(te.parameters()) + list(unet.parameters())
opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
ema_te, ema_unet = copy.deepcopy(te), copy.deepcopy(unet)
for m in (ema_te, ema_unet):
    m.requires_grad_(False)
scenes = Scenes(load_sprites(), seed=args.seed)
step = 0
elapsed_total = 0.0
if os.path.exists(args.ckpt):
    ck = torch.load(args.ckpt)
    te.load_state_dict(ck['te'])
    unet.load_state_dict(ck['unet'], strict=False)  # older checkpoints lack the pooled-text path and slot field
    ema_te.load_state_dict(ck['ema_te'])
    ema_unet.load_state_dict(ck['ema_unet'], strict=False)
    osd = ck['opt']
    missing = len(params) - len(osd['param_groups'][0]['params'])
    if missing > 0:  # new parameters (pooled-text path, slot field) start with fresh Adam state
        last = max(osd['param_groups'][0]['params'])
        osd['param_groups'][0]['params'] = osd['param_groups'][0]['params'] + list(range(last + 1, last + 1 + missing))
    opt.load_state_dict(osd)
    scenes.rng.set_state(ck['np_rng'])
    torch.set_rng_state(ck['torch_rng'])
    step = ck['step']
    elapsed_total = ck.get('elapsed', 0.0)
    print(f'resumed at step {step} ({elapsed_total / 60:.1f} min so far)', flush=True)

sig_table = torch.tensor(SIGMAS, dtype=torch.float32)
cap_cache: dict[str, list[int]] = {}


def rows_of(caption: str) -> list[int]:
    if caption not in cap_cache:
        cap_cache[caption] = [int(table[i]) for i in tok(caption)]
    return cap_cache[caption]


def layout_targets(lab: dict, r: list[int]) -> list[int]:
    """The scene generator knows the layout, so SlotField.scores gets free supervision: it learns in a few hundred
    steps what the denoising loss alone had not taught it in 600 (the slots collapsed onto BOS)."""
    if lab['kind'] == 1:
        return slot_targets(r, table, tok, centre=lab['subject'])
    if lab['kind'] == 2:
        return slot_targets(r, table, tok, left=lab['left'], right=lab['right'])
    return [0, 0, 0]


def batch():
    imgs, rr, masks, labels = [], [], [], []
    for _ in range(args.batch):
        img, cap, lab = scenes.sample()
        masks.append(scenes.mask.copy())
        u = scenes.rng.rand()
        if u < 0.1:
            cap = ''  # classifier-free guidance dropout: the engine's empty negative prompt
        r = list(rows_of(cap))
        if 0.1 <= u < 0.15:  # an unknown word somewhere in the caption: learn to ignore the 'unknown' row
            n = r.index(ROW_PAD) if ROW_PAD in r else len(r)
            pos = scenes.rng.randint(1, n)
            r = (r[:pos] + [ROW_UNK] + r[pos:])[:77]
        imgs.append(img)
        rr.append(r)
        labels.append(layout_targets(lab, r) if cap else [0, 0, 0])
    x = torch.tensor(np.stack(imgs)).permute(0, 3, 1, 2) * 2 - 1
    return (x.contiguous(), torch.tensor(rr, dtype=torch.long), torch.tensor(np.stack(masks))[:, None],
            torch.tensor(labels, dtype=torch.long))


def save():
    tmp = args.ckpt + '.tmp'
    torch.save(dict(te=te.state_dict(), unet=unet.state_dict(), ema_te=ema_te.state_dict(),
                    ema_unet=ema_unet.state_dict(), opt=opt.state_dict(), np_rng=scenes.rng.get_state(),
                    torch_rng=torch.get_rng_state(), step=step, elapsed=elapsed_total, rows=rows,
                    args=vars(args)), tmp)
    os.replace(tmp, args.ckpt)


def fresh_adam_state(module):
    """A straight run creates every parameter at step 0; the shipped run added the pooled path at step 1500 and the
    slot field at step 4206 with fresh Adam state. Dropping their (all-zero-gradient) state at those steps makes a
    straight run take the same updates."""
    for prm in module.parameters():
        opt.state.pop(prm, None)


t_start = time.time()
t_last = time.time()
loss_acc, n_acc, aux_acc = 0.0, 0, 0.0
while step < args.steps:
    gate = 1.0 if step >= args.pool_step else 0.0
    unet.pool_gate.fill_(gate)
    ema_unet.pool_gate.fill_(gate)
    slot_on = step >= args.slot_step
    unet.slot_gate.fill_(1.0 if slot_on else 0.0)
    ema_unet.slot_gate.fill_(1.0 if slot_on else 0.0)
    scenes.mix = (0.4, 0.95) if slot_on else (0.5, 0.95)
    if step == args.pool_step:
        fresh_adam_state(unet.pool)
    if step == args.slot_step:
        fresh_adam_state(unet.slots)
        fresh_adam_state(unet.slot_proj)
    x0, r, mask, slot_lab = batch()
    t = torch.rand(x0.shape[0]) * (N_TRAIN - 1)
    sigma = sigma_of_t(t, sig_table)
    noise = torch.randn_like(x0)
    xt = x0 + sigma[:, None, None, None] * noise
    ctx = te(r)
    pred = denoise(unet, xt, sigma, ctx)
    if step < args.switch_step:  # phase 1: EDM-style weighting (low noise up-weighted up to x5)
        w = torch.clamp((sigma ** 2 + SIGMA_DATA ** 2) / (sigma * SIGMA_DATA) ** 2, max=20.0) / 4.0
        loss = (w * ((pred - x0) ** 2).mean(dim=(1, 2, 3))).mean()
    else:  # phase 2: plain x0 MSE, sprite pixels up-weighted (the background is easy, the subject is the point)
        pix = 1.0 + args.mask_weight * mask
        loss = (pix * (pred - x0) ** 2).sum(dim=(1, 2, 3)).div(pix.sum(dim=(1, 2, 3)) * 3).mean()
    if slot_on:
        logits = unet.slots.scores(ctx)  # [B, 3, 77]
        aux_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), slot_lab.reshape(-1))
        aux_acc += (logits.argmax(-1) == slot_lab).float().mean().item()
        loss = loss + args.slot_aux * aux_loss
    warm = min(1.0, (step + 1) / 200)
    for g in opt.param_groups:
        g['lr'] = args.lr * warm
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    step += 1
    decay = min(0.999, (1 + step) / (10 + step))
    with torch.no_grad():
        for src, dst in ((te, ema_te), (unet, ema_unet)):
            for ps, pd in zip(src.parameters(), dst.parameters()):
                pd.mul_(decay).add_(ps.detach(), alpha=1 - decay)
    loss_acc += loss.item()
    n_acc += 1
    now = time.time()
    elapsed_total += now - t_last
    t_last = now
    if step % 50 == 0:
        slot_note = f' slot acc {aux_acc / n_acc:.3f}' if slot_on else ''
        print(f'step {step} loss {loss_acc / n_acc:.4f}{slot_note} {elapsed_total / 60:.1f} min', flush=True)
        loss_acc, n_acc, aux_acc = 0.0, 0, 0.0
    if step % args.save_every == 0:
        save()
    if (now - t_start) / 60 > args.minutes:
        break
save()
print(f'done: step {step}, {elapsed_total / 60:.1f} min of training', flush=True)
