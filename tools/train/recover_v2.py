"""Rebuild v2's training checkpoint from the shipped model, for when tools/train/.work/ is gone (a new machine).

Usage: /usr/bin/python3 tools/train/recover_v2.py [--model DIR] [--out PATH] [--force]
       /usr/bin/python3 tools/train/recover_v2.py --from-ckpt PATH --out PATH   (the same state from a training
       checkpoint: its EMA weights, no optimizer; run.sh uses it to replay the shipped run's step 9,900, which went
       through the shipped graphs)
Reads models/imagine-tiny/text_encoder/model.onnx and unet/model.onnx, recovers every weight with warmstart.recover
(the same matching of parameters to initializers that brought v1's weights into v2) and writes .work/ckpt_v2.pt at
the step and training minutes that eval.json records. The shipped graphs hold only the EMA weights, so the trained
weights and their EMA both start from them; the optimizer's moments and the data's random state are not in the
graphs, so the checkpoint has none and train_v2.py starts a fresh optimizer (with a warm-up) when it resumes from it.
The check that matters is in recover(): the rebuilt networks, exported again, hold exactly the shipped initializers.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import CTX_DIM, MODEL_DIR, RES, WORK, ClipTextEncoder, ClipTokenizer, EpsUNet  # noqa: E402
from networks import v2_networks  # noqa: E402
from text import build_index_table_v2  # noqa: E402
from warmstart import recover  # noqa: E402


def shipped_is_vertical(model_dir: str, tok) -> bool:
    """Was the shipped model grown for above/below? Its text encoder then has the grown table's row count."""
    import onnx
    from onnx import numpy_helper
    _, rows_v, _ = build_index_table_v2(tok, vertical=True)
    graph = onnx.load(os.path.join(model_dir, 'text_encoder', 'model.onnx')).graph
    return any(numpy_helper.to_array(i).shape[:1] == (rows_v,) for i in graph.initializer)


def recover_checkpoint(model_dir: str) -> dict:
    """The training checkpoint that the shipped graphs in model_dir hold (see the module's docstring)."""
    tok = ClipTokenizer()
    vertical = shipped_is_vertical(model_dir, tok)
    table, rows, han = build_index_table_v2(tok, vertical)
    te, unet = v2_networks(rows, han, vertical)
    ids = torch.tensor([tok('a cat left of a rocket on a blue background'), tok('一只穿着宇航服的猫在火星上散步'),
                        tok('')], dtype=torch.int64)
    recover(te, ClipTextEncoder(te, table), (ids,), ['input_ids'],
            os.path.join(model_dir, 'text_encoder', 'model.onnx'))
    sample = torch.randn(3, 3, RES, RES)
    timestep = torch.tensor([999.0, 421.5, 42.0])
    ctx = torch.randn(3, 77, CTX_DIM)
    recover(unet, EpsUNet(unet), (sample, timestep, ctx), ['sample', 'timestep', 'encoder_hidden_states'],
            os.path.join(model_dir, 'unet', 'model.onnx'))
    with open(os.path.join(model_dir, 'eval.json')) as f:
        ev = json.load(f)
    step, minutes = int(ev['checkpoint_step']), float(ev['training_minutes'])
    return dict(te=te.state_dict(), unet=unet.state_dict(), ema_te=te.state_dict(), ema_unet=unet.state_dict(),
                step=step, elapsed=minutes * 60, rows=rows, vertical=vertical, recovered_from=model_dir,
                args={'pool_step': 0, 'slot_step': 0})


def ema_only(ck: dict) -> dict:
    """What recover_checkpoint gives for the graphs exported from ck (export.py writes the EMA weights; the test
    shows the round trip is exact): the EMA weights as both trained and EMA weights, no optimizer or data state."""
    keep = ('step', 'elapsed', 'rows', 'vertical', 'args')
    return {**{k: ck[k] for k in keep if k in ck}, 'te': ck['ema_te'], 'unet': ck['ema_unet'], 'ema_te': ck['ema_te'],
            'ema_unet': ck['ema_unet'], 'recovered_from': 'the EMA weights of a training checkpoint'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=MODEL_DIR)
    ap.add_argument('--from-ckpt', help='a training checkpoint instead of the shipped graphs')
    ap.add_argument('--out', default=os.path.join(WORK, 'ckpt_v2.pt'))
    ap.add_argument('--force', action='store_true', help='overwrite an existing checkpoint')
    args = ap.parse_args()
    if os.path.exists(args.out) and not args.force:
        raise SystemExit(f'{args.out} exists: it holds more than the graphs (optimizer, data state); pass --force '
                         f'to replace it')
    torch.set_num_threads(2)
    ck = ema_only(torch.load(args.from_ckpt)) if args.from_ckpt else recover_checkpoint(args.model)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    torch.save(ck, args.out)
    print(f'recovered {len(ck["te"])} text-encoder and {len(ck["unet"])} UNet tensors ({ck["rows"]} text rows, '
          f'{5 if ck["vertical"] else 3} slot places); wrote {args.out} at step {ck["step"]} '
          f'({ck["elapsed"] / 60:.1f} min)')


if __name__ == '__main__':
    main()
