"""Train imagine-tiny v2 from v1's weights: Chinese captions, accessories, scenes and counts (scenes_v2.py).

Usage: nice -n 19 /usr/bin/python3 tools/train/train_v2.py [--steps N] [--minutes M]
Starts from tools/train/.work/ckpt_v2_init.pt (warmstart.py: v1's shipped weights, new text rows) and resumes from
tools/train/.work/ckpt_v2.pt when it exists (model, EMA, optimizer, data and torch RNG states). Same loss as v1's
last phase (x0 MSE with sprite pixels weighted x5, the slot field told which token names the thing at each place),
with the pooled-text path and the slot field on from the start.

From --vertical-step (5,100, where the first shipped v2 stopped) the data adds stacked pairs ("a cat above a dog",
12 %) and variety (mirrored figures, wider position and size jitter; scenes_v2.py), and the checkpoint grows once
(grow_for_vertical): 6 embedding rows for the new words and the slot field's top and bottom places.

From --primer-step (9,900 in the shipped run) 3 % of the scenes are the primer's subject and accessory, a cat in a
space suit, half of them on Mars: at step 9,900 the English primer's cat was read as a pig or a dog in all four
seeds. A run may resume from a checkpoint rebuilt from the shipped graphs (recover_v2.py): it has no optimizer or
data state, so the optimizer starts afresh with its warm-up.
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import WORK, SIGMAS, N_TRAIN, ROW_PAD, ROW_UNK, ClipTokenizer, denoise, load_sprites, sigma_of_t  # noqa
from networks import v2_networks  # noqa: E402
from scenes_v2 import ScenesV2  # noqa: E402
from text import build_index_table_v2, slot_targets_from_spans  # noqa: E402
from vertical import grow_for_vertical  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--steps', type=int, default=4000)
p.add_argument('--minutes', type=float, default=1e9, help='stop (with a checkpoint) after this many minutes')
p.add_argument('--batch', type=int, default=32)
p.add_argument('--lr', type=float, default=3e-4)
p.add_argument('--seed', type=int, default=200)
p.add_argument('--ckpt', default=os.path.join(WORK, 'ckpt_v2.pt'))
p.add_argument('--init', default=os.path.join(WORK, 'ckpt_v2_init.pt'))
p.add_argument('--save-every', type=int, default=100)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--mask-weight', type=float, default=4.0)
p.add_argument('--slot-aux', type=float, default=0.05)
p.add_argument('--ema', type=float, default=0.998)
p.add_argument('--focus-step', type=int, default=1700,
               help='from this step on, half the single-subject scenes show a subject with a head and 80 %% of those '
                    'wear something (before: 1/3 and 60 %%): accessories with scenes were 6 %% of the data')
p.add_argument('--vertical-step', type=int, default=5100,
               help='from this step on: above/below pairs (this share of the data: --vertical-share) and variety')
p.add_argument('--vertical-share', type=float, default=0.12)
p.add_argument('--primer-step', type=int, default=None,
               help='from this step on, --primer-share of the scenes are a cat in a space suit (half of them on Mars): '
                    'the primer\'s prompt (shipped run: from 9,900)')
p.add_argument('--primer-share', type=float, default=0.03)
p.add_argument('--decay-from', type=int, default=None,
               help='from this step the learning rate falls linearly to 0 at --steps (the shipped run: from 8,303)')
args = p.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
tok = ClipTokenizer()
resume = os.path.exists(args.ckpt)
ck = torch.load(args.ckpt if resume else args.init)
vertical = ck.get('vertical', False)
if not vertical and ck['step'] >= args.vertical_step:
    ck, vertical = grow_for_vertical(ck, tok), True
    print(f'grew the checkpoint at step {ck["step"]}: {ck["rows"]} rows, slot places top and bottom', flush=True)
table, rows, han = build_index_table_v2(tok, vertical)
te, unet = v2_networks(rows, han, vertical)
params = list(te.parameters()) + list(unet.parameters())
opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
scenes = ScenesV2(load_sprites(), seed=args.seed)
assert ck['rows'] == rows, 'the checkpoint was made for another vocabulary'
te.load_state_dict(ck['te'])
unet.load_state_dict(ck['unet'])
ema_te, ema_unet = copy.deepcopy(te), copy.deepcopy(unet)
ema_te.load_state_dict(ck['ema_te'])
ema_unet.load_state_dict(ck['ema_unet'])
for m in (ema_te, ema_unet):
    m.requires_grad_(False)
step, elapsed_total = ck['step'], ck.get('elapsed', 0.0)
warm_from = 0  # the learning rate's warm-up counts from here
if resume and 'opt' not in ck:
    # rebuilt from the shipped graphs (recover_v2.py): no optimizer moments and no data state; a fresh AdamW warms up
    # again and the data continues from a seed of its own
    warm_from = step
    scenes.rng = np.random.RandomState(args.seed + step)
    torch.manual_seed(args.seed + step)
    print(f'resumed at step {step} from {ck.get("recovered_from", "a checkpoint without optimizer state")} '
          f'({elapsed_total / 60:.1f} min so far): fresh optimizer, warm-up from here', flush=True)
elif resume:
    opt.load_state_dict(ck['opt'])
    scenes.rng.set_state(ck['np_rng'])
    torch.set_rng_state(ck['torch_rng'])
    print(f'resumed at step {step} ({elapsed_total / 60:.1f} min so far)', flush=True)
else:
    print(f'starting from v1 weights ({args.init})', flush=True)

sig_table = torch.tensor(SIGMAS, dtype=torch.float32)
cap_cache: dict[str, list[int]] = {}


def rows_of(caption: str) -> list[int]:
    if caption not in cap_cache:
        cap_cache[caption] = [int(table[i]) for i in tok(caption)]
    return cap_cache[caption]


places = unet.places


def batch():
    imgs, rr, masks, labels = [], [], [], []
    for _ in range(args.batch):
        img, cap, lab = scenes.sample()
        masks.append(scenes.mask.copy())
        u = scenes.rng.rand()
        slots = slot_targets_from_spans(tok, cap, lab['spans'], places)
        if u < 0.1:
            cap, slots = '', [0] * places  # classifier-free guidance dropout: the engine's empty negative prompt
        r = list(rows_of(cap))
        if 0.1 <= u < 0.15:  # an unknown word somewhere: learn to ignore the 'unknown' row
            n = r.index(ROW_PAD) if ROW_PAD in r else len(r)
            pos = scenes.rng.randint(1, n)
            r = (r[:pos] + [ROW_UNK] + r[pos:])[:77]
            slots = [s + 1 if s >= pos else s for s in slots]
            slots = [s if s < 76 else 0 for s in slots]
        imgs.append(img)
        rr.append(r)
        labels.append(slots)
    x = torch.tensor(np.stack(imgs)).permute(0, 3, 1, 2) * 2 - 1
    return (x.contiguous(), torch.tensor(rr, dtype=torch.long), torch.tensor(np.stack(masks))[:, None],
            torch.tensor(labels, dtype=torch.long))


def save():
    tmp = args.ckpt + '.tmp'
    torch.save(dict(te=te.state_dict(), unet=unet.state_dict(), ema_te=ema_te.state_dict(),
                    ema_unet=ema_unet.state_dict(), opt=opt.state_dict(), np_rng=scenes.rng.get_state(),
                    torch_rng=torch.get_rng_state(), step=step, elapsed=elapsed_total, rows=rows, vertical=vertical,
                    args={**vars(args), 'pool_step': 0, 'slot_step': 0}), tmp)
    os.replace(tmp, args.ckpt)


t_start = t_last = time.time()
loss_acc, n_acc, aux_acc = 0.0, 0, 0.0
# a run started before --vertical-step stops there, saves, and starts itself again to grow (the models change shape)
end = args.steps if vertical else min(args.steps, args.vertical_step)
if vertical:  # the whole of this run is past --vertical-step
    scenes.vertical_share, scenes.variety = args.vertical_share, True
while step < end:
    if step >= args.focus_step:
        scenes.wearer_share, scenes.accessory_share = 0.5, 0.8
    if args.primer_step is not None and step >= args.primer_step:
        scenes.primer_share = args.primer_share
    x0, r, mask, slot_lab = batch()
    t = torch.rand(x0.shape[0]) * (N_TRAIN - 1)
    sigma = sigma_of_t(t, sig_table)
    xt = x0 + sigma[:, None, None, None] * torch.randn_like(x0)
    ctx = te(r)
    pred = denoise(unet, xt, sigma, ctx)
    pix = 1.0 + args.mask_weight * mask
    loss = (pix * (pred - x0) ** 2).sum(dim=(1, 2, 3)).div(pix.sum(dim=(1, 2, 3)) * 3).mean()
    logits = unet.slots.scores(ctx)  # [B, 3, 77]
    aux_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), slot_lab.reshape(-1))
    aux_acc += (logits.argmax(-1) == slot_lab).float().mean().item()
    loss = loss + args.slot_aux * aux_loss
    lr = args.lr * min(1.0, (step - warm_from + 1) / 100)
    if args.decay_from is not None and step >= args.decay_from:
        lr *= 1 - (step - args.decay_from) / max(1, args.steps - args.decay_from)
    for g in opt.param_groups:
        g['lr'] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    step += 1
    with torch.no_grad():
        for src, dst in ((te, ema_te), (unet, ema_unet)):
            for ps, pd in zip(src.parameters(), dst.parameters()):
                pd.mul_(args.ema).add_(ps.detach(), alpha=1 - args.ema)
    loss_acc += loss.item()
    n_acc += 1
    now = time.time()
    elapsed_total += now - t_last
    t_last = now
    if step % 50 == 0:
        print(f'step {step} loss {loss_acc / n_acc:.4f} slot acc {aux_acc / n_acc:.3f} {elapsed_total / 60:.1f} min',
              flush=True)
        loss_acc, n_acc, aux_acc = 0.0, 0, 0.0
    if step % args.save_every == 0:
        save()
    if (now - t_start) / 60 > args.minutes:
        break
save()
print(f'done: step {step}, {elapsed_total / 60:.1f} min of training', flush=True)
left = args.minutes - (time.time() - t_start) / 60
if step == end < args.steps and left > 0:  # argparse keeps the last --minutes: the new run gets what is left
    os.execv(sys.executable, [sys.executable] + sys.argv + ['--minutes', f'{left:.2f}'])
