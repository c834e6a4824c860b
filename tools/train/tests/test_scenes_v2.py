"""Tests of v2's scene generator and text side (tools/train/scenes_v2.py, text.py, networks.TextEncoderV2).

Run: /usr/bin/python3 -m unittest discover tools/train/tests
Synthetic sprites stand in for the Noto Emoji ones (no download).
"""
import os
import re
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from networks import TextEncoderV2  # noqa: E402
from scenes import NC, NS, SUBJECT_NAMES  # noqa: E402
from scenes_v2 import (ACCESSORY_NAMES, NSC, SCENE_NAMES, SUBJECT_ZH, ScenesV2, chinese_vocabulary,  # noqa: E402
                       english_vocabulary, heldout_triples, plural, space_suit_sprites, vertical_vocabulary)
from test_scenes import synthetic_sprites  # noqa: E402
from text import (BOS, ClipTokenizer, build_index_table, build_index_table_v2, known_words,  # noqa: E402
                  slot_targets_from_spans, token_char_ends)

TOK = ClipTokenizer()


def sprites_v2() -> np.ndarray:
    base = synthetic_sprites()
    extra = synthetic_sprites()[:4]
    return np.concatenate([base, extra, np.stack(space_suit_sprites(64))])


def samples(n: int, seed: int = 7, **kw):
    sc = ScenesV2(sprites_v2(), seed=seed, **kw)
    return [sc.sample() for _ in range(n)]


def segment(text: str, known: set) -> list:
    """Greedy longest match, as src/inference/prompt/unknown-words.ts does; returns the uncovered characters."""
    longest = max(len(w) for w in known)
    out, i = [], 0
    while i < len(text):
        for n in range(min(longest, len(text) - i), 0, -1):
            if text[i:i + n] in known:
                i += n
                break
        else:
            out.append(text[i])
            i += 1
    return out


class ScenesV2Test(unittest.TestCase):
    def test_spans_name_the_subject_at_each_place(self):
        zh_names = {n for n, _ in SUBJECT_ZH}
        seen_kinds = set()
        for img, cap, lab in samples(600):
            self.assertEqual(img.shape, (32, 32, 3))
            seen_kinds.add(lab['kind'])
            for place, (s, e) in lab['spans'].items():
                word = cap[s:e]
                if lab['kind'] == 1:
                    self.assertIn(word, (SUBJECT_NAMES[lab['subject']], SUBJECT_ZH[lab['subject']][0]), cap)
                elif lab['kind'] == 2:
                    want = lab['left'] if place == 'left' else lab['right']
                    self.assertIn(word, (SUBJECT_NAMES[want], SUBJECT_ZH[want][0]), cap)
                elif lab['kind'] == 3:
                    self.assertIn(word, (plural(lab['subject']), SUBJECT_ZH[lab['subject']][0]), cap)
                self.assertTrue(word in SUBJECT_NAMES or word in zh_names or word.endswith(('s', 'i', 'n', 'h')))
        self.assertEqual(seen_kinds, {0, 1, 2, 3})

    def test_both_languages_and_every_scene_and_accessory_are_drawn(self):
        out = samples(1500)
        han = sum(1 for _, cap, _ in out if re.search(r'[\u4e00-\u9fff]', cap))
        self.assertGreater(han, 600)
        self.assertLess(han, 900)
        self.assertEqual({lab['background'] for _, _, lab in out}, set(range(NC + NSC)))
        self.assertEqual({lab.get('accessory') for _, _, lab in out if lab['kind'] == 1} - {None}, set(range(5)))

    def test_heldout_combinations_never_appear(self):
        triples = heldout_triples()
        self.assertEqual(len(triples), 24)
        for _, cap, lab in samples(3000, seed=3):
            if lab['kind'] == 1 and lab['accessory'] is not None:
                self.assertNotIn((lab['subject'], lab['accessory'], lab['background']), triples, cap)
        # and the exclusion is what keeps them out: without it they show up
        found = any(lab['kind'] == 1 and lab['accessory'] is not None and
                    (lab['subject'], lab['accessory'], lab['background']) in triples
                    for _, _, lab in samples(3000, seed=3, exclude_heldout=False))
        self.assertTrue(found)

    def test_known_words_cover_every_caption(self):
        zh = set(chinese_vocabulary())
        en = set(known_words()) | set(english_vocabulary())
        for _, cap, _ in samples(1500, seed=9):
            for run in re.findall(r'[\u4e00-\u9fff]+', cap):
                self.assertEqual(segment(run, zh), [], cap)
            for word in re.findall(r'[a-z]+', cap.lower()):
                self.assertIn(word, en, cap)


class AboveBelowAndVarietyTest(unittest.TestCase):
    """The data of train_v2.py's --vertical-step: stacked pairs and mirrored, more scattered figures."""

    def test_off_by_default_so_the_first_stage_data_is_unchanged(self):
        a, b = ScenesV2(sprites_v2(), seed=4), ScenesV2(sprites_v2(), seed=4)
        b.vertical_share, b.variety = 0.0, False
        for (ia, ca, _), (ib, cb, _) in zip([a.sample() for _ in range(200)], [b.sample() for _ in range(200)]):
            self.assertEqual(ca, cb)
            self.assertTrue(np.array_equal(ia, ib))
        self.assertNotIn(4, {lab['kind'] for _, _, lab in samples(500)})

    def test_primer_share_draws_cats_in_space_suits_half_on_mars_never_held_out(self):
        sc = ScenesV2(sprites_v2(), seed=6)
        sc.vertical_share, sc.variety, sc.primer_share = 0.12, True, 1.0
        cat, suit = SUBJECT_NAMES.index('cat'), ACCESSORY_NAMES.index('space suit')
        mars = NC + SCENE_NAMES.index('mars')
        held = heldout_triples()
        on_mars, langs = 0, set()
        for _ in range(400):
            img, cap, lab = sc.sample()
            self.assertEqual((lab['kind'], lab['subject'], lab['accessory']), (1, cat, suit))
            self.assertNotIn((cat, suit, lab['background']), held)
            st, e = lab['spans']['centre']
            self.assertIn(cap[st:e], ('cat', '猫'), cap)
            self.assertTrue(re.search('space suit|spacesuit|space helmet|宇航服|太空服', cap), cap)
            # what was drawn: suit, cat, helmet, in that order
            self.assertEqual([i for i, *_ in sc.scene['sprites']], [ScenesV2.SUIT, cat, ScenesV2.HELMET])
            on_mars += lab['background'] == mars
            langs.add(bool(re.search(r'[\u4e00-\u9fff]', cap)))
        self.assertEqual(langs, {False, True})
        self.assertTrue(0.5 < on_mars / 400 < 0.6, on_mars)  # half on Mars, plus Mars among the other half's draws
        # a share, not all: 3 % of scenes
        sc = ScenesV2(sprites_v2(), seed=7)
        sc.primer_share = 0.03
        n = sum(lab.get('accessory') == suit and lab.get('subject') == cat for _, _, lab in
                (sc.sample() for _ in range(4000)))
        self.assertTrue(0.025 < n / 4000 < 0.04, n)

    def test_stacked_pairs_put_the_named_subjects_top_and_bottom(self):
        sc = ScenesV2(sprites_v2(), seed=5)
        sc.vertical_share, sc.variety = 1.0, True
        langs = set()
        for _ in range(300):
            img, cap, lab = sc.sample()
            self.assertEqual(lab['kind'], 4)
            self.assertNotIn(frozenset((lab['top'], lab['bottom'])), heldout_pairs_v1())
            for place, s in (('top', lab['top']), ('bottom', lab['bottom'])):
                st, e = lab['spans'][place]
                self.assertIn(cap[st:e], (SUBJECT_NAMES[s], SUBJECT_ZH[s][0]), cap)
            # what was drawn: the first sprite's centre is in the upper half, the second's in the lower half
            (_, s0, x0, y0, _), (_, s1, x1, y1, _) = sc.scene['sprites']
            self.assertLess(y0 + s0 / 2, 16)
            self.assertGreater(y1 + s1 / 2, 16)
            langs.add(bool(re.search(r'[\u4e00-\u9fff]', cap)))
            slots = slot_targets_from_spans(TOK, cap, lab['spans'], 5)
            self.assertEqual(slots[:3], [0, 0, 0])
            self.assertTrue(slots[3] > 0 and slots[4] > 0 and slots[3] != slots[4], cap)
        self.assertEqual(langs, {False, True})
        # 'below' names the bottom subject first
        for _ in range(200):
            _, cap, lab = sc.sample()
            if ' below ' in cap:
                self.assertTrue(cap.split(' below ')[0].endswith(SUBJECT_NAMES[lab['bottom']]), cap)
                break
        else:
            self.fail('no below caption')

    def test_known_words_cover_the_stacked_captions(self):
        zh = set(chinese_vocabulary()) | set(vertical_vocabulary())
        en = set(known_words()) | set(english_vocabulary()) | set(vertical_vocabulary())
        sc = ScenesV2(sprites_v2(), seed=6)
        sc.vertical_share = 1.0
        for _ in range(500):
            cap = sc.sample()[1]
            for run in re.findall(r'[\u4e00-\u9fff]+', cap):
                self.assertEqual(segment(run, zh), [], cap)
            for word in re.findall(r'[a-z]+', cap.lower()):
                self.assertIn(word, en, cap)
        table, _, _ = build_index_table_v2(TOK, vertical=True)
        unknown = {i for _ in range(1000) for i in TOK.encode(sc.sample()[1]) if table[i] == 2}
        self.assertEqual(unknown, set())

    def test_variety_mirrors_figures_in_small_and_large_renders(self):
        sc = ScenesV2(sprites_v2(), seed=8)
        sc.variety = True
        flips, xs = set(), []
        for _ in range(60):
            sc.render_wearer(0, 0, None)
            (i, size, x0, y0, flip), = sc.scene['sprites']
            flips.add(flip)
            xs.append(x0 + size / 2)
            if flip:
                self.assertTrue(np.array_equal(sc.sprite(i, size, True), sc.sprite(i, size)[:, ::-1]))
        self.assertEqual(flips, {False, True})
        self.assertGreater(np.std(xs), 2.0)  # +-5 px: std about 2.9 (+-3 before: 1.7)
        # the 256 px render mirrors the same figure
        sc.render_wearer(0, 0, None)
        while not sc.scene['sprites'][0][4]:
            sc.render_wearer(0, 0, None)
        large = sc.render_large(8)
        i, size, x0, y0, _ = sc.scene['sprites'][0]
        spr = sc.sprite(i, size * 8, True)
        ys, xs_ = slice(max(0, y0 * 8), y0 * 8 + size * 8), slice(max(0, x0 * 8), x0 * 8 + size * 8)
        region = large[ys, xs_]
        want = spr[ys.start - y0 * 8:ys.stop - y0 * 8, xs_.start - x0 * 8:xs_.stop - x0 * 8]
        solid = want[..., 3] > 0.99
        self.assertLess(np.abs(region[solid] - want[solid][:, :3]).max(), 0.02)  # unmirrored: 0.86


def heldout_pairs_v1():
    from scenes import heldout_pairs
    return heldout_pairs()


class TextV2Test(unittest.TestCase):
    def test_v1_rows_keep_their_ids(self):
        t1, r1 = build_index_table(TOK)
        t2, r2, han = build_index_table_v2(TOK)
        self.assertTrue(np.array_equal(t2[t1 != 2], t1[t1 != 2]))
        self.assertGreater(r2, r1)
        self.assertEqual(han[:r1].sum(), 0)  # v1's rows are all ASCII words: no n-gram path
        self.assertGreater(han.sum(), 80)

    def test_every_piece_of_fresh_captions_has_a_row(self):
        """The table is built from words and from captions of seed 0; captions of other seeds need no UNK row."""
        table, _, _ = build_index_table_v2(TOK)
        unknown = {i for _, cap, _ in samples(2000, seed=123) for i in TOK.encode(cap) if table[i] == 2}
        self.assertEqual(unknown, set())

    def test_token_char_ends_and_slot_targets(self):
        cap = '一只穿着宇航服的猫在火星上散步'
        ends = token_char_ends(TOK, cap)
        self.assertEqual(len(ends), len(TOK.encode(cap)))
        self.assertEqual(ends[-1], len(cap))
        self.assertTrue(all(a <= b for a, b in zip(ends, ends[1:])))
        i = cap.index('猫')
        [_, _, centre] = slot_targets_from_spans(TOK, cap, {'centre': (i, i + 1)})
        self.assertEqual(ends[centre - 1], i + 1)  # the token that ends 猫 (index shifted by BOS)
        en = 'a cat left of a rocket'
        left, right, _ = slot_targets_from_spans(TOK, en, {'left': (2, 5), 'right': (16, 22)})
        ids = TOK(en)
        self.assertEqual((ids[left], ids[right]), (TOK.encode('cat')[0], TOK.encode('rocket')[0]))
        self.assertEqual(ids[0], BOS)

    def test_every_known_character_has_its_own_ngram_embedding(self):
        """The n-gram keys at the piece that ends a character tell every character of the vocabulary apart (no
        bucket collision), and ASCII tokens get no n-gram term."""
        table, rows, han = build_index_table_v2(TOK)
        te = TextEncoderV2(rows, han)
        chars = sorted({ch for w in chinese_vocabulary() for ch in w})
        finals = {}
        for ch in chars:
            r = torch.tensor([[int(table[i]) for i in TOK(ch)]])
            k2, k3 = te.ngram_keys(r)
            n = len(TOK.encode(ch))
            finals.setdefault((int(k2[0, n]), int(k3[0, n])), []).append(ch)
        self.assertEqual([v for v in finals.values() if len(v) > 1], [])
        with torch.no_grad():
            te.ngram.weight.normal_()
            ids = torch.tensor([[int(table[i]) for i in TOK('a cat on a blue background')]])
            base = TextEncoderV2(rows, han)
            base.load_state_dict(te.state_dict())
            base.ngram.weight.zero_()
            self.assertTrue(torch.equal(te(ids), base(ids)))
            zh = torch.tensor([[int(table[i]) for i in TOK('一只猫')]])
            self.assertFalse(torch.allclose(te(zh), base(zh)))


if __name__ == '__main__':
    unittest.main()
