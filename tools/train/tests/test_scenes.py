"""Tests of the scene generator (tools/train/scenes.py): the 32x32 scenes of the shipped UNet's recipe are unchanged,
and the paired 256x256 render is the same scene at 8x.

Run: /usr/bin/python3 -m unittest discover tools/train/tests
Synthetic sprites (discs with a bar, drawn here) stand in for the Noto Emoji ones, so the tests need no download.
"""
import hashlib
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from scenes import NS, RES, UPSCALE, Scenes  # noqa: E402


def synthetic_sprites() -> np.ndarray:
    rng = np.random.RandomState(3)
    yy, xx = np.mgrid[0:64, 0:64]
    out = np.zeros((NS, 64, 64, 4), np.uint8)
    for i in range(NS):
        r = 14 + i % 12
        cx, cy = 32 + rng.randint(-6, 7), 32 + rng.randint(-6, 7)
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r
        out[i, ..., :3] = rng.randint(0, 256, 3)
        out[i, ..., 3] = disc * 255
        out[i, 20:24, 10:54, :3] = 255 - out[i, 0, 0, :3]
    return out


SPRITES = synthetic_sprites()

# sha256 of the first 40 samples (image bytes, caption, labels) of Scenes(SPRITES, seed=5), recorded with the
# generator as it was before paired rendering existed (commit bbea2af, tools/train/common.py): the recipe that trained
# the shipped UNet must keep drawing exactly the same scenes.
V1_DIGEST = '004fbef8440511b60d2392a65851927980020b9031612107c7a127ee571d9f1a'


def digest(samples) -> str:
    h = hashlib.sha256()
    for img, cap, lab in samples:
        h.update(np.ascontiguousarray(img, np.float32).tobytes())
        h.update(cap.encode())
        h.update(repr(sorted(lab.items())).encode())
    return h.hexdigest()


class SmallScenesAreUnchanged(unittest.TestCase):
    def test_the_32px_scenes_and_captions_are_bit_identical_to_v1(self):
        sc = Scenes(SPRITES, seed=5)
        self.assertEqual(digest(sc.sample() for _ in range(40)), V1_DIGEST)

    def test_asking_for_the_large_render_draws_nothing_from_the_random_generator(self):
        plain, paired = Scenes(SPRITES, seed=9), Scenes(SPRITES, seed=9)
        for _ in range(30):
            img, cap, lab = plain.sample()
            small, large, cap2, lab2 = paired.sample_paired()
            np.testing.assert_array_equal(img, small)
            self.assertEqual((cap, lab), (cap2, lab2))


class PairedRender(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sc = Scenes(SPRITES, seed=21, exclude_heldout=False)
        cls.pairs = [sc.sample_paired() for _ in range(40)]

    def test_the_large_render_is_8x_the_small_one(self):
        self.assertEqual(UPSCALE, 8)
        for small, large, _, _ in self.pairs:
            self.assertEqual(small.shape, (RES, RES, 3))
            self.assertEqual(large.shape, (RES * 8, RES * 8, 3))
            self.assertEqual(large.dtype, np.float32)
            self.assertTrue(0 <= large.min() and large.max() <= 1)

    def test_an_8x8_box_average_of_the_large_render_is_the_small_render(self):
        # Same scene: sprites at 8x the size and corner, resized from the same 64 px source (Lanczos), so the box
        # average differs only by resampling (edge ringing); a sprite off by one pixel or a different background
        # would give errors of the sprite's contrast (up to 1) over whole rows.
        for small, large, cap, _ in self.pairs:
            pooled = large.reshape(RES, 8, RES, 8, 3).mean(axis=(1, 3))
            err = np.abs(pooled - small)
            self.assertLess(err.mean(), 0.01, cap)
            self.assertLess(err.max(), 0.3, cap)

    def test_the_background_is_the_same_colour_in_both_renders(self):
        for small, large, cap, lab in self.pairs:
            # corners are background in every scene the generator draws (sprites are centred away from them)
            np.testing.assert_array_equal(small[0, 0], large[0, 0])
            np.testing.assert_array_equal(small[-1, -1], large[-1, -1])
            if lab['kind'] == 0:  # background only: flat, and identical everywhere
                np.testing.assert_array_equal(large, np.broadcast_to(small[0, 0], large.shape))

    def test_sprites_land_at_8x_their_position(self):
        # One sprite, a known place: scene with the subject pasted by hand at corner (5, 7), size 10.
        sc = Scenes(SPRITES, seed=1, exclude_heldout=False)
        small = sc.background(0)
        sc.paste(small, 3, 10, 5 + 10 / 2, 7 + 10 / 2)
        large = sc.render_large()
        alpha = SPRITES[3, ..., 3] > 0
        ys, xs = np.nonzero(alpha)
        changed = np.abs(large - large[0, 0]).max(axis=2) > 0.1  # above the resampling's faint ringing
        cy, cx = np.nonzero(changed)
        # the sprite's opaque box (pixels [min, max] of its 64 px source) covers [corner*8 + min*80/64,
        # corner*8 + (max+1)*80/64 - 1] of the large render (80 = 10 px * 8)
        s = 80 / 64
        self.assertAlmostEqual(cx.min(), 5 * 8 + xs.min() * s, delta=2)
        self.assertAlmostEqual(cx.max(), 5 * 8 + (xs.max() + 1) * s - 1, delta=2)
        self.assertAlmostEqual(cy.min(), 7 * 8 + ys.min() * s, delta=2)
        self.assertAlmostEqual(cy.max(), 7 * 8 + (ys.max() + 1) * s - 1, delta=2)


if __name__ == '__main__':
    unittest.main()
