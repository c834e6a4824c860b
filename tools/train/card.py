"""Write the measured scores from models/imagine-tiny/eval.json into the model card (between the score markers, and
the decoder's PSNR table between the decoder markers).

Usage: /usr/bin/python3 tools/train/card.py [--speed-ms N]
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import MODEL_DIR  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--speed-ms', type=float, default=None)
args = ap.parse_args()
e = json.load(open(os.path.join(MODEL_DIR, 'eval.json')))
s, p = e['single'], e['pair']
pct = lambda v: f'{100 * v:.1f} %'  # noqa: E731
lines = [
    f"Weights of step {e['checkpoint_step']} ({e['training_minutes']} minutes of training); "
    f"sampler {e['sampler']}, {e['steps']} steps, cfg {e['cfg']}; prompts held out from training (see "
    '[Evaluation method](#evaluation-method)).',
    '',
    '| metric | model | chance | shuffled prompts | target |',
    '| --- | --- | --- | --- | --- |',
    f"| single subject: subject right ({s['n']} images) | {pct(s['subject_correct'])} | {pct(s['chance_subject'])} | "
    f"{pct(s['shuffled_prompt_subject'])} | 80 % |",
    f"| single subject: background colour right | {pct(s['background_correct'])} | {pct(s['chance_background'])} | | |",
    f"| single subject: subject and background right | {pct(s['subject_and_background_correct'])} | "
    f"{pct(s['chance_subject'] * s['chance_background'])} | | |",
    f"| two subjects: both right, in the asked left/right order ({p['n']} images) | "
    f"{pct(p['both_subjects_in_right_order'])} | {pct(p['chance_right_order'])} | "
    f"{pct(p['shuffled_prompt_right_order'])} | 50 % |",
    f"| two subjects: both right, any order | {pct(p['both_subjects_any_order'])} | {pct(2 * p['chance_right_order'])} | | |",
    f"| two subjects: left one right / right one right | {pct(p['left_correct'])} / {pct(p['right_correct'])} | "
    f"4.2 % / 4.2 % | | |",
    f"| two subjects: background colour right | {pct(p['background_correct'])} | 10.0 % | | |",
    '',
    f"The slot field picks the right word for every place (left, right, centre) in "
    f"{pct(e['slot_routing_correct'])} of these prompts." if 'slot_routing_correct' in e else '',
    '',
    f"Scorer accuracy on fresh generator renders: whole image {pct(e['scorer_accuracy_on_clean_renders']['whole_image_subject'])}, "
    f"half image {pct(e['scorer_accuracy_on_clean_renders']['half_image_subject'])}.",
]
card = os.path.join(MODEL_DIR, 'README.md')
text = open(card).read()
text = re.sub(r'<!-- scores:start -->.*<!-- scores:end -->',
              '<!-- scores:start -->\n' + '\n'.join(lines) + '\n<!-- scores:end -->', text, flags=re.S)
if 'decoder' in e:
    d = e['decoder']
    row = lambda name, r: (f"| {name} | {r['bilinear_db']:.2f} dB | **{r['learned_db']:.2f} dB** | "  # noqa: E731
                           f"**{r['gain_db']:+.2f} dB** | {pct(r['scenes_where_learned_is_better'])} |")
    dec_lines = [
        f"{d['scenes']} held-out scenes with at least one subject (generator seed {d['seed']}; training used seed "
        f"100), each rendered at 32×32 and at 256×256; PSNR of each decoder's output from the 32×32 render against "
        f"the 256×256 render (mean over scenes; target: {d['target_gain_db']:.0f} dB better than bilinear). "
        f"Learned decoder: EMA weights of step {d['training_step']}, {d['training_minutes']} minutes of training, "
        f"{d['parameters']:,} parameters (`python3 tools/train/eval_decoder.py`).",
        '',
        '| input | bilinear ×8 (v1) | learned (v2) | gain | scenes where learned is better |',
        '| --- | --- | --- | --- | --- |',
        row('32×32 render', d['clean_input']),
        row('32×32 render, blurred (σ 0.5 px) + noise (std 0.02)', d['degraded_input']),
        *([row('32×32 render, blurred (σ 0.5 px) + noise (std 0.08, the grain of a UNet sample)', d['grainy_input'])]
          if 'grainy_input' in d else []),
        '',
        f"On the {d['background_only_scenes']['n']} background-only scenes of the same draw (where bilinear is exact) "
        f"the learned decoder's output strays at most {d['background_only_scenes']['learned_max_deviation_from_flat_255']}/255 "
        f"from the flat colour.",
    ]
    if 'pooled_back_to_32_mean_abs_diff_255' in d:
        rt = d['pooled_back_to_32_mean_abs_diff_255']
        dec_lines[-1] += (f" The 8×8 mean of the decoded picture — what the 8×8-average-pool `vae_encoder` and the "
                          f"32×32 scorers of `evaluate.py` see — is {rt['learned']}/255 from the 32×32 input on average "
                          f"(bilinear: {rt['bilinear']}/255, its own blur).")
    text = re.sub(r'<!-- decoder:start -->.*<!-- decoder:end -->',
                  '<!-- decoder:start -->\n' + '\n'.join(dec_lines) + '\n<!-- decoder:end -->', text, flags=re.S)
    lines += [''] + dec_lines
open(card, 'w').write(text)
print('\n'.join(lines))
