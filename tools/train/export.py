"""Export the EMA weights of a training checkpoint to models/imagine-tiny/ (diffusers ONNX layout).

Usage: /usr/bin/python3 tools/train/export.py [--ckpt PATH]
The default is v2's checkpoint (.work/ckpt_v2.pt, train_v2.py); a v1 checkpoint (.work/ckpt.pt, train.py) exports
v1's English-only text encoder.
Writes text_encoder/ and unet/ ONNX graphs (opset 14, fp32, batch dynamic), scheduler/tokenizer configs,
model_index.json and imagine-bot.json; saves parity vectors to tools/train/.work/parity/ for tools/train/parity.mjs.
vae_decoder/ is the learned decoder's, written by export_decoder.py (train_decoder.py trains it).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import (MODEL_DIR, WORK, RES, CTX_DIM, SCALING_FACTOR, BETA_START, BETA_END, N_TRAIN,  # noqa: E402
                    ClipTokenizer, ClipTextEncoder, EpsUNet, build_index_table, build_models, known_words)

DEFAULTS = dict(sampler='euler', steps=20, cfg=3.0, width=RES * 8, height=RES * 8)


def is_v2(ckpt_path) -> bool:
    return 'ngram.weight' in torch.load(ckpt_path)['te']


def load_ema(ckpt_path):
    tok = ClipTokenizer()
    table, rows = build_index_table(tok)
    te, unet = build_models(rows)
    ck = torch.load(ckpt_path)
    te.load_state_dict(ck['ema_te'])
    unet.load_state_dict(ck['ema_unet'], strict=False)
    unet.pool_gate.fill_(1.0 if ck['step'] >= ck['args'].get('pool_step', 1500) else 0.0)
    unet.slot_gate.fill_(1.0 if ck['step'] >= ck['args'].get('slot_step', 10 ** 9) else 0.0)
    te.eval()
    unet.eval()
    return tok, table, ClipTextEncoder(te, table).eval(), EpsUNet(unet).eval(), ck['step'], ck.get('elapsed', 0.0)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write('\n')


def export_graphs(te, eps, te_args, unet_args, model_dir):
    """text_encoder/model.onnx and unet/model.onnx in diffusers' layout (opset 14, fp32, batch dynamic), checked.
    recover_v2.py reads the weights back out of exactly these graphs."""
    import onnx
    kw = dict(opset_version=14, do_constant_folding=True)
    for part in ('text_encoder', 'unet'):
        os.makedirs(os.path.join(model_dir, part), exist_ok=True)
    torch.onnx.export(te, te_args, os.path.join(model_dir, 'text_encoder', 'model.onnx'), input_names=['input_ids'],
                      output_names=['last_hidden_state'], dynamic_axes={'input_ids': {0: 'batch'},
                                                                         'last_hidden_state': {0: 'batch'}}, **kw)
    torch.onnx.export(eps, unet_args, os.path.join(model_dir, 'unet', 'model.onnx'),
                      input_names=['sample', 'timestep', 'encoder_hidden_states'], output_names=['out_sample'],
                      dynamic_axes={'sample': {0: 'batch'}, 'timestep': {0: 'batch'},
                                    'encoder_hidden_states': {0: 'batch'}, 'out_sample': {0: 'batch'}}, **kw)
    for part in ('text_encoder', 'unet'):
        onnx.checker.check_model(os.path.join(model_dir, part, 'model.onnx'))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default=os.path.join(WORK, 'ckpt_v2.pt'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    v2 = is_v2(args.ckpt)
    if v2:
        from evaluate_v2 import load_ema_v2
        from text import v2_words
        tok, table, te, eps, step, elapsed = load_ema_v2(args.ckpt)
        words = known_words() + v2_words()
        if eps.unet.above_below:  # grown at train_v2.py's --vertical-step
            from scenes_v2 import vertical_vocabulary
            words += vertical_vocabulary()
        words = sorted(set(words))
        parity_prompts = ['a cat left of a rocket on a blue background', '一只穿着宇航服的猫在火星上散步', '']
    else:
        tok, table, te, eps, step, elapsed = load_ema(args.ckpt)
        words = known_words()
        parity_prompts = ['a cat left of a rocket on a blue background', '']
    ids = torch.tensor([tok(p) for p in parity_prompts], dtype=torch.int64)
    with torch.no_grad():
        ctx = te(ids)
        g = torch.Generator().manual_seed(7)
        sample = torch.randn(len(parity_prompts), 3, RES, RES, generator=g)
        timestep = torch.tensor([999.0, 421.5, 42.0][:len(parity_prompts)])
        out = eps(sample, timestep, ctx)
    export_graphs(te, eps, (ids,), (sample, timestep, ctx), MODEL_DIR)

    write_json(os.path.join(MODEL_DIR, 'model_index.json'), {
        '_class_name': 'OnnxStableDiffusionPipeline', '_diffusers_version': '0.30.0',
        'scheduler': ['diffusers', 'EulerDiscreteScheduler'], 'text_encoder': ['diffusers', 'OnnxRuntimeModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'], 'unet': ['diffusers', 'OnnxRuntimeModel'],
        # vae_encoder/ (an 8×8 average pool, no weights) is written by `npx tsx tools/train/vae-encoder.ts`.
        'vae_decoder': ['diffusers', 'OnnxRuntimeModel'], 'vae_encoder': ['diffusers', 'OnnxRuntimeModel'],
        'safety_checker': [None, None], 'feature_extractor': [None, None], 'requires_safety_checker': False})
    write_json(os.path.join(MODEL_DIR, 'scheduler', 'scheduler_config.json'), {
        '_class_name': 'EulerDiscreteScheduler', '_diffusers_version': '0.30.0', 'num_train_timesteps': N_TRAIN,
        'beta_start': BETA_START, 'beta_end': BETA_END, 'beta_schedule': 'scaled_linear',
        'prediction_type': 'epsilon', 'timestep_spacing': 'trailing', 'steps_offset': 1,
        'interpolation_type': 'linear', 'use_karras_sigmas': False, 'trained_betas': None})
    write_json(os.path.join(MODEL_DIR, 'tokenizer', 'special_tokens_map.json'), {
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>', 'pad_token': '<|endoftext|>',
        'unk_token': '<|endoftext|>'})
    write_json(os.path.join(MODEL_DIR, 'tokenizer', 'tokenizer_config.json'), {
        'tokenizer_class': 'CLIPTokenizer', 'model_max_length': 77, 'do_lower_case': True,
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>', 'pad_token': '<|endoftext|>',
        'unk_token': '<|endoftext|>'})
    inv = 1.0 / SCALING_FACTOR
    write_json(os.path.join(MODEL_DIR, 'imagine-bot.json'), {
        # The UNet is exported at one size; saying so lets the bot fit every request to it before queueing.
        'family': 'pixel', 'fixedSize': [RES * 8, RES * 8], 'defaults': DEFAULTS, 'knownWords': words,
        # v2 reads Chinese itself (its text encoder was trained on Chinese captions): no translation before it
        **({'languages': ['en', 'zh']} if v2 else {}),
        'preview': {'latentRgbFactors': [[inv, 0, 0], [0, inv, 0], [0, 0, inv]]}})

    pdir = os.path.join(WORK, 'parity')
    os.makedirs(pdir, exist_ok=True)
    write_json(os.path.join(pdir, 'vectors.json'), {
        'input_ids': ids.tolist(), 'last_hidden_state': ctx.flatten().tolist(), 'sample': sample.flatten().tolist(),
        'timestep': timestep.tolist(), 'out_sample': out.flatten().tolist(), 'step': step})
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(MODEL_DIR) for f in fs)
    print(f'exported step {step} ({elapsed / 60:.1f} min); model folder {total / 1e6:.1f} MB')


if __name__ == '__main__':
    main()
