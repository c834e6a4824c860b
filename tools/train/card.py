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
pct = lambda v: f'{100 * v:.1f} %'  # noqa: E731


def met(v, target):
    return f"{pct(v)} {'✅' if v >= target else '❌'}"


if e.get('version') == 2:
    en, zh = e['en'], e['zh']
    lines = [
        f"Weights of step {e['checkpoint_step']} ({e['training_minutes']} minutes of v2 training from v1's weights); "
        f"sampler {e['sampler']}, {e['steps']} steps, cfg {e['cfg']}; prompts held out from training in both "
        'languages (see [Evaluation method](#evaluation-method)); ✅/❌: target met or not.',
        '',
        '| metric | English | Chinese | chance | target |',
        '| --- | --- | --- | --- | --- |',
    ]
    rows = [
        ('single subject: subject right', lambda b: b['single']['subject_correct'], '4.2 %', 0.8),
        ('single subject: background colour right', lambda b: b['single']['background_correct'], '10.0 %', None),
        ('two subjects: both right, in the asked order', lambda b: b['pair']['both_subjects_in_right_order'],
         '0.2 %', 0.5),
        ('two subjects: background colour right', lambda b: b['pair']['background_correct'], '10.0 %', None),
        ('subject + accessory + scene: subject right', lambda b: b['accessory_scene']['subject_correct'], '12.5 %',
         0.85),
        ('subject + accessory + scene: accessory right', lambda b: b['accessory_scene']['accessory_correct'],
         '20.0 %', 0.7),
        ('subject + accessory + scene: scene right', lambda b: b['accessory_scene']['scene_correct'], '14.3 %', 0.9),
        ('subject + accessory + scene: all three right', lambda b: b['accessory_scene']['all_three_correct'],
         '0.4 %', 0.6),
        ('counts (two / three): count right', lambda b: b['count']['count_correct'], '33.3 %', 0.6),
        ('counts: count and subject right', lambda b: b['count']['count_and_subject_correct'], '1.4 %', None),
    ]
    if 'vertical' in en:  # the above/below stage (train_v2.py --vertical-step)
        rows += [
            ('above / below: both right, the asked one on top', lambda b: b['vertical']['both_subjects_in_right_order'],
             '0.2 %', 0.5),
            ('above / below: both right, either way up', lambda b: b['vertical']['both_subjects_any_order'], '0.4 %',
             None),
        ]
    for name, get, chance, target in rows:
        a, b = get(en), get(zh)
        t = '' if target is None else f'{100 * target:.0f} %'
        fa = met(a, target) if target is not None else pct(a)
        fb = met(b, target) if target is not None else pct(b)
        lines.append(f'| {name} | {fa} | {fb} | {chance} | {t} |')
    gaps = [(name, 100 * (get(en) - get(zh)), target) for name, get, _, target in rows]
    worst = max((g for g in gaps if g[2] is not None), key=lambda g: g[1])
    worst_any = max(gaps, key=lambda g: g[1])
    lines += [
        '',
        f"Images per row: single {en['single']['n']}, pairs {en['pair']['n']}, subject + accessory + scene "
        f"{en['accessory_scene']['n']} (24 held-out triples × 2 seeds), counts {en['count']['n']}"
        + (f", above / below {en['vertical']['n']}" if 'vertical' in en else '') + " per language. "
        f"Chinese against English (target: within 5 points) on the rows with a target: the largest shortfall is "
        f"{worst[1]:+.1f} points ({worst[0]}){' ✅' if worst[1] <= 5 else ' ❌'}"
        + ('.' if worst_any is worst else f"; on all rows {worst_any[1]:+.1f} points ({worst_any[0]})"
           f"{' ✅' if worst_any[1] <= 5 else ' ❌'}."),
        '',
        f"The primer's prompt, 4 seeds each, subject, accessory and scene all right: \"{en['primer']['prompt']}\" "
        f"{en['primer']['all_three_correct_seeds']}/4, {zh['primer']['prompt']} {zh['primer']['all_three_correct_seeds']}/4 "
        f"(target ≥ 3/4; per seed: {'; '.join(en['primer']['per_seed'])} | {'; '.join(zh['primer']['per_seed'])})"
        + (f". Over 32 seeds (20000–20031): {en['primer']['all_three_correct_of_32_seeds']}/32 and "
           f"{zh['primer']['all_three_correct_of_32_seeds']}/32." if 'all_three_correct_of_32_seeds' in en['primer']
           else '.'),
        '',
        f"Shuffled prompts (the same images scored against another prompt's targets): single subject "
        f"{pct(en['single']['shuffled_prompt_subject'])}, ordered pair {pct(en['pair']['shuffled_prompt_right_order'])}, "
        f"all three {pct(en['accessory_scene']['shuffled_prompt_all_three'])}"
        + (f", above / below {pct(en['vertical']['shuffled_prompt_right_order'])}" if 'vertical' in en else '')
        + " (English).",
        '',
        f"Variety (4 seeds of 8 prompts): the subject's centre moves by {e['variety']['position_std_px']} px "
        f"(standard deviation at 32×32) and its area by {100 * e['variety']['size_relative_std']:.0f} % between seeds; "
        f"the training renders of one prompt: {e['variety']['training_renders_position_std_px']} px and "
        f"{100 * e['variety']['training_renders_size_relative_std']:.0f} %."
        + (f" Pixels differ by {e['variety']['pixel_difference_255']}/255 on average between two seeds "
           f"(training renders: {e['variety']['training_renders_pixel_difference_255']}/255; copies: 0)."
           if 'pixel_difference_255' in e['variety'] else ''),
        '',
        f"The slot field picks the right word for the left and right place in {pct(e['slot_routing_correct_pairs']['en'])} "
        f"of the English and {pct(e['slot_routing_correct_pairs']['zh'])} of the Chinese pair prompts.",
        '',
        'Scorer accuracy on fresh generator renders: ' + ', '.join(
            f'{k.replace("_", " ")} {pct(v)}' for k, v in e['scorer_accuracy_on_clean_renders'].items()) + '.',
    ]
else:  # a v1 eval.json (tools/train/evaluate.py)
    s, p = e['single'], e['pair']
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
