"""Growing a v2 checkpoint for the above/below stage (train_v2.py --vertical-step).

Stacked pairs need two things the first 5,100 steps did not have: embedding rows for the new words (above, below,
over, under, top, bottom; 上面/下面/上方/下方 bring pieces of 面 and 方) and two more places in the slot field (top,
bottom). Every existing weight keeps its value and index; the new embedding rows start like trained rows (normal with
their spread), the new places' token scores at zero (no preference until the slot targets teach one) and their maps
as Gaussians over the upper and lower halves. Adam's moments of the grown tensors get zeros for the new entries.
Old prompts read the same text and the same left/right/centre words after growing (tests/test_vertical.py); the new
places add the plain average of the words over the upper and lower halves until their scores learn, a small change
that the shipped run absorbed within about 100 steps (its loss went 0.054 at step 5,100 -> 0.109 over steps
5,100-5,150, with the new data and the new places' slot targets, -> 0.076 by step 5,200).
"""
from __future__ import annotations

import torch

from networks import SlotField, TextEncoderV2, UNet
from text import build_index_table_v2

GROWN_UNET = ('slots.score.weight', 'slots.score.bias', 'slots.maps')


def _pad(t: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    return torch.cat([t, extra.to(t.dtype)], 0)


def grow_for_vertical(ck: dict, tok) -> dict:
    _, rows_old, han_old = build_index_table_v2(tok)
    _, rows_new, _ = build_index_table_v2(tok, vertical=True)
    assert ck['rows'] == rows_old, 'not a v2 checkpoint'
    g = torch.Generator().manual_seed(5100)
    emb = ck['te']['emb.weight']
    new_rows = torch.randn(rows_new - rows_old, emb.shape[1], generator=g) * emb[3:].std()
    with torch.random.fork_rng():
        maps = SlotField(ck['unet']['slots.score.weight'].shape[1], 5).maps.detach()
    extra = {'slots.score.weight': lambda t: torch.zeros(2, *t.shape[1:]), 'slots.score.bias': lambda t: torch.zeros(2),
             'slots.maps': lambda t: maps[3:]}
    out = dict(ck)
    for key in ('te', 'ema_te'):
        sd = dict(ck[key])
        sd['emb.weight'] = _pad(sd['emb.weight'], new_rows)
        out[key] = sd
    for key in ('unet', 'ema_unet'):
        sd = dict(ck[key])
        for name in GROWN_UNET:
            sd[name] = _pad(sd[name], extra[name](sd[name]))
        out[key] = sd
    if 'opt' in ck:  # the optimizer holds te's then the UNet's parameters, in named_parameters() order
        names = [f'te.{n}' for n, _ in TextEncoderV2(rows_old, han_old).named_parameters()] + \
            [f'unet.{n}' for n, _ in UNet().named_parameters()]
        grown = {'te.emb.weight': rows_new - rows_old, **{f'unet.{n}': 2 for n in GROWN_UNET}}
        opt = {'state': {}, 'param_groups': ck['opt']['param_groups']}
        for idx, st in ck['opt']['state'].items():
            st = dict(st)
            if names[idx] in grown:
                for m in ('exp_avg', 'exp_avg_sq'):
                    st[m] = _pad(st[m], torch.zeros(grown[names[idx]], *st[m].shape[1:]))
            opt['state'][idx] = st
        out['opt'] = opt
    out['rows'], out['vertical'] = rows_new, True
    return out
