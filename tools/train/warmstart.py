"""Start v2's training from the shipped v1 weights (the ONNX graphs in models/imagine-tiny), so that v2 spends its
CPU time on what is new (Chinese, accessories, scenes, counts) instead of relearning v1.

The v1 checkpoint is not in git, but the shipped ONNX graphs hold every weight. torch renames some of them on export
(a Linear becomes MatMul with a transposed initializer named onnx::MatMul_N; a GroupNorm's affine becomes (C,1,1)
Mul/Add constants), so the mapping is found by exporting the same networks with a distinct random value in every
parameter and matching each parameter to the initializer that holds its values (as is, transposed or reshaped); the
shipped graph's initializer at the same place then gives the v1 weight. The result is checked: v2's networks, with
v1's weights and zero n-gram rows, must reproduce the shipped graphs' outputs.

Usage: /usr/bin/python3 tools/train/warmstart.py [--v1 DIR]   (writes tools/train/.work/ckpt_v2_init.pt, step 0)
DIR holds v1's text_encoder/model.onnx and unet/model.onnx; run.sh takes them from git (the last v1 commit), since
models/imagine-tiny holds v2 once v2 is exported.
"""
import argparse
import copy
import os
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
from common import (WORK, RES, ClipTextEncoder, ClipTokenizer, EpsUNet, UNet, TextEncoder,  # noqa: E402
                    build_index_table)
from networks import TextEncoderV2  # noqa: E402
from text import build_index_table_v2  # noqa: E402


def _export(module, args, names, path):
    torch.onnx.export(module, args, path, input_names=names, opset_version=14, do_constant_folding=True)


def recover(module, wrapper, args, names, shipped_path):
    """Sets module's parameters to the values the shipped ONNX graph holds for them."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'probe.onnx')
        _export(wrapper, args, names, path)
        probe = onnx.load(path).graph.initializer
    shipped = onnx.load(shipped_path).graph.initializer
    assert len(probe) == len(shipped), (len(probe), len(shipped))
    pairs = []
    for a, b in zip(probe, shipped):
        assert tuple(a.dims) == tuple(b.dims), (a.name, a.dims, b.dims)
        pairs.append((numpy_helper.to_array(a), numpy_helper.to_array(b)))
    found = 0
    with torch.no_grad():
        for name, p in module.named_parameters():
            v = p.detach().numpy()
            for probe_arr, ship_arr in pairs:
                if probe_arr.size != v.size or probe_arr.dtype != np.float32:
                    continue
                if np.array_equal(probe_arr.reshape(v.shape), v):
                    p.copy_(torch.tensor(ship_arr.reshape(v.shape)))
                    found += 1
                    break
                if v.ndim == 2 and probe_arr.shape == v.T.shape and np.array_equal(probe_arr, v.T):
                    p.copy_(torch.tensor(ship_arr.T.copy()))
                    found += 1
                    break
            else:
                raise SystemExit(f'no initializer holds {name} {tuple(v.shape)}')
    # check: the same networks exported again hold exactly the shipped graph's initializers
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'again.onnx')
        _export(wrapper, args, names, path)
        again = onnx.load(path).graph.initializer
    for a, b in zip(again, shipped):
        assert np.array_equal(numpy_helper.to_array(a), numpy_helper.to_array(b)), a.name
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--v1', default=os.path.join(WORK, 'v1'))
    v1_dir = ap.parse_args().v1
    for part in ('text_encoder', 'unet'):
        if not os.path.exists(os.path.join(v1_dir, part, 'model.onnx')):
            raise SystemExit(f'{v1_dir}/{part}/model.onnx is missing: run tools/train/run.sh, which takes v1\'s '
                             f'graphs from git, or pass --v1 with a folder that has them')
    torch.set_num_threads(2)
    tok = ClipTokenizer()
    table1, rows1 = build_index_table(tok)
    te1, unet1 = TextEncoder(rows1), UNet()
    unet1.pool_gate.fill_(1.0)
    unet1.slot_gate.fill_(1.0)
    ids = torch.tensor([tok('a cat left of a rocket on a blue background'), tok('')], dtype=torch.int64)
    n_te = recover(te1, ClipTextEncoder(te1, table1), (ids,), ['input_ids'],
                   os.path.join(v1_dir, 'text_encoder', 'model.onnx'))
    sample = torch.randn(2, 3, RES, RES)
    timestep = torch.tensor([999.0, 421.5])
    ctx = torch.randn(2, 77, 256)
    n_unet = recover(unet1, EpsUNet(unet1), (sample, timestep, ctx), ['sample', 'timestep', 'encoder_hidden_states'],
                     os.path.join(v1_dir, 'unet', 'model.onnx'))
    print(f'recovered {n_te} text-encoder and {n_unet} UNet parameters from the shipped graphs')

    table2, rows2, han = build_index_table_v2(tok)
    assert np.array_equal(table2[table1 != 2], table1[table1 != 2]), 'v1 rows must keep their ids'
    te2 = TextEncoderV2(rows2, han)
    sd = te1.state_dict()
    emb = te2.emb.weight.detach().clone()
    emb[:rows1] = sd.pop('emb.weight')
    # new rows: the scale of v1's rows, small random directions
    emb[rows1:] = torch.randn(rows2 - rows1, emb.shape[1], generator=torch.Generator().manual_seed(1)) * 0.3
    sd['emb.weight'] = emb
    missing = te2.load_state_dict(sd, strict=False)
    assert missing.missing_keys == ['ngram.weight'] and not missing.unexpected_keys, missing
    # check: English prompts through v2's encoder = v1's (the n-gram path is off for ASCII, zero for Chinese)
    with torch.no_grad():
        r1 = torch.tensor(table1)[ids]
        r2 = torch.tensor(table2)[ids]
        diff = (te1(r1) - te2(r2)).abs().max().item()
    assert diff < 1e-5, diff
    ema_te, ema_unet = copy.deepcopy(te2), copy.deepcopy(unet1)
    os.makedirs(WORK, exist_ok=True)
    torch.save(dict(te=te2.state_dict(), unet=unet1.state_dict(), ema_te=ema_te.state_dict(),
                    ema_unet=ema_unet.state_dict(), step=0, elapsed=0.0, rows=rows2, v1_rows=rows1,
                    args={'pool_step': 0, 'slot_step': 0}), os.path.join(WORK, 'ckpt_v2_init.pt'))
    print(f'wrote {os.path.join(WORK, "ckpt_v2_init.pt")}: {rows2} text rows ({rows2 - rows1} new, '
          f'{int(han.sum())} Chinese pieces); English output of v2 = v1 to {diff:.1e}')


if __name__ == '__main__':
    main()
