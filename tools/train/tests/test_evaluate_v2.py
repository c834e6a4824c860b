"""Tests of v2's evaluation helpers (tools/train/evaluate_v2.py): the prompts are the held-out ones and use only known
words, the scorers' label sets line up with the generator, and the geometric scorers measure what they say.

Run: /usr/bin/python3 -m unittest discover tools/train/tests
"""
import os
import re
import sys
import unittest

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate_v2 as ev  # noqa: E402
from scenes import NC, NS, SUBJECT_NAMES, heldout_pairs, heldout_single  # noqa: E402
from scenes_v2 import NB, ScenesV2, chinese_vocabulary, english_vocabulary, heldout_triples, vertical_vocabulary  # noqa
from test_scenes_v2 import TOK, segment, sprites_v2  # noqa: E402
from text import known_words, slot_targets_from_spans  # noqa: E402


class PromptsTest(unittest.TestCase):
    def test_prompts_are_the_heldout_combinations_in_both_languages(self):
        for zh in (False, True):
            singles, pairs = ev.prompts_v1(zh)
            self.assertEqual({(s, c) for _, s, c, _ in singles}, heldout_single())
            self.assertEqual({frozenset((a, b)) for _, a, b, _ in pairs}, heldout_pairs())
            triples = ev.prompts_triples(zh)
            self.assertEqual({(s, a, b) for _, s, a, b in triples}, heldout_triples())
            self.assertEqual(len(ev.prompts_counts(zh)), 48)
        # the same combination in both languages, in the same order (the scores are comparable)
        self.assertEqual([p[1:] for p in ev.prompts_v1(False)[1]], [p[1:] for p in ev.prompts_v1(True)[1]])

    def test_every_prompt_uses_known_words_only(self):
        zh = set(chinese_vocabulary())
        en = set(known_words()) | set(english_vocabulary())
        zh |= set(vertical_vocabulary())
        en |= set(vertical_vocabulary())
        prompts = [ev.PRIMER[0], ev.PRIMER[1], *ev.VARIETY]
        for lang in (False, True):
            singles, pairs = ev.prompts_v1(lang)
            prompts += [p[0] for p in singles + pairs + ev.prompts_triples(lang) + ev.prompts_counts(lang) +
                        ev.prompts_vertical(lang)]
        for p in prompts:
            for run in re.findall(r'[\u4e00-\u9fff]+', p):
                self.assertEqual(segment(run, zh), [], p)
            for word in re.findall(r'[a-z]+', p.lower()):
                self.assertIn(word, en, p)

    def test_vertical_prompts_are_the_heldout_pairs_both_ways_up_in_both_languages(self):
        en, zh = ev.prompts_vertical(False), ev.prompts_vertical(True)
        self.assertEqual([p[1:] for p in en], [p[1:] for p in zh])
        self.assertEqual({frozenset((a, b)) for _, a, b, _ in en}, heldout_pairs())
        self.assertEqual(len({(a, b) for _, a, b, _ in en}), 2 * len(heldout_pairs()))
        p, top, bottom, _ = en[0]
        self.assertTrue(p.startswith(f'a {SUBJECT_NAMES[top]} above') or p.startswith(f'an {SUBJECT_NAMES[top]} above'))
        p, top, bottom, _ = en[1]
        self.assertIn(f'{SUBJECT_NAMES[bottom]} below', p)
        self.assertIn('的下面', zh[1][0])

    def test_score_vertical_reads_the_upper_and_lower_halves(self):
        prompts = [('p0', 3, 5, 0), ('p1', 7, 2, 0)]
        gv = torch.zeros(2, 3, 32, 32)
        gv[0, 0, :16] = 3.0  # the fake scorer reads a subject id from channel 0's mean
        gv[0, 0, 16:] = 5.0
        gv[1, 0, :16] = 2.0  # upside down
        gv[1, 0, 16:] = 7.0

        def vhalf(x):
            ids = x[:, 0].mean(dim=(1, 2)).round().long()
            return F.one_hot(ids, NS + 1).float()
        out = ev.score_vertical(prompts, gv, vhalf, np.array([1, 0]))
        self.assertEqual(out['both_subjects_in_right_order'], 0.5)
        self.assertEqual(out['both_subjects_any_order'], 1.0)
        self.assertEqual((out['top_correct'], out['bottom_correct']), (0.5, 0.5))

    def test_expected_slots_point_at_the_subject_words(self):
        for zh in (False, True):
            _, pairs = ev.prompts_v1(zh)
            for p, a, b, _ in pairs[:10]:
                left, right, _ = ev.expected_slots(TOK, p, a, b, zh)
                self.assertGreater(left, 0)
                self.assertGreater(right, 0)
                self.assertNotEqual(left, right)
        p = 'a cat left of a rocket on a blue background'
        ids = TOK(p)
        left, right, _ = ev.expected_slots(TOK, p, SUBJECT_NAMES.index('cat'), SUBJECT_NAMES.index('rocket'), False)
        self.assertEqual((ids[left], ids[right]), (TOK.encode('cat')[0], TOK.encode('rocket')[0]))
        self.assertEqual(slot_targets_from_spans(TOK, p, {}), [0, 0, 0])


class ScorerHelpersTest(unittest.TestCase):
    def test_scorer_batch_labels_match_what_was_drawn(self):
        sc = ScenesV2(sprites_v2(), seed=1, exclude_heldout=False)
        x, y, hx, hy = ev.scorer_batch(sc, 64, np.random.RandomState(0))
        self.assertEqual(tuple(x.shape), (64, 3, 32, 32))
        self.assertEqual(tuple(y.shape), (64, 4))
        self.assertTrue(((y[:, 2] >= 0) & (y[:, 2] < NB)).all())
        self.assertTrue(((y[:, 3] >= 0) & (y[:, 3] <= 2)).all())
        self.assertEqual(len(hx), len(hy))
        self.assertEqual([len(h) for h in ev.MultiScorer()(x)], [64] * 4)

    def test_vertical_batch_labels_the_subject_in_each_half(self):
        sc = ScenesV2(sprites_v2(), seed=2, exclude_heldout=False)
        sc.variety = True
        rng = np.random.RandomState(0)
        vx, vy = ev.vertical_batch(sc, 40, rng)
        self.assertEqual(tuple(vx.shape[1:]), (3, 16, 32))  # top and bottom halves
        self.assertEqual(len(vx), len(vy))
        self.assertIn(NS, vy.tolist())  # some empty halves
        # without augmentation noise: the first pair's halves are exactly the top and bottom of its render
        sc2 = ScenesV2(sprites_v2(), seed=2, exclude_heldout=False)
        sc2.variety = True
        rng2 = np.random.RandomState(0)
        a, c = rng2.randint(NS), rng2.randint(NS)
        while c == a:
            c = rng2.randint(NS)
        self.assertEqual(vy[:2].tolist(), [a, c])

    def test_flip_tta_adds_the_logits_of_the_mirrored_picture(self):
        x = torch.zeros(1, 3, 4, 4)
        x[..., 0] = 1.0  # bright left column

        def left_minus_right(z):
            return (z[..., 0] - z[..., -1]).mean(dim=(1, 2))[:, None]
        self.assertEqual(float(left_minus_right(x)), 1.0)
        self.assertEqual(float(ev.flip_tta(left_minus_right, x)), 0.0)
        both = ev.flip_tta(lambda z: [left_minus_right(z), left_minus_right(z) * 0 + 1], x)
        self.assertEqual([float(t) for t in both], [0.0, 2.0])

    def test_subject_box_finds_position_and_size(self):
        img = torch.full((3, 32, 32), -0.5)
        img[:, 10:18, 20:28] = 0.9  # an 8x8 square centred at (23.5, 13.5)
        cx, cy, area = ev.subject_box(img)
        self.assertAlmostEqual(cx, 23.5)
        self.assertAlmostEqual(cy, 13.5)
        self.assertEqual(area, 64)
        self.assertIsNone(ev.subject_box(torch.full((3, 32, 32), 0.2)))

    def test_scene_phrases(self):
        self.assertEqual(ev.scene_en(4), 'on a blue background')
        self.assertEqual(ev.scene_zh(4), '在蓝色背景上')
        self.assertEqual(ev.scene_en(NC), 'on mars')
        self.assertEqual(ev.scene_zh(NC), '在火星上')


if __name__ == '__main__':
    unittest.main()
