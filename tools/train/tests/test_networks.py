"""Tests of the vae_decoder networks (tools/train/networks.py). Run: /usr/bin/python3 -m unittest discover tools/train/tests"""
import os
import sys
import unittest

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from networks import Decoder, LearnedDecoder  # noqa: E402


class Decoders(unittest.TestCase):
    def test_the_bilinear_decoder_is_an_x8_bilinear_upscale_clamped_to_the_picture_range(self):
        x = torch.linspace(-1.5, 1.5, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)
        want = F.interpolate(x, size=(256, 256), mode='bilinear', align_corners=False).clamp(-1, 1)
        torch.testing.assert_close(Decoder()(x), want)

    def test_an_untrained_learned_decoder_is_exactly_the_bilinear_one(self):
        # its last convolution starts at zero: training starts from v1's decoder, not from noise
        torch.manual_seed(0)
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        torch.testing.assert_close(LearnedDecoder()(x), Decoder()(x), rtol=0, atol=0)

    def test_the_learned_decoder_maps_any_even_latent_size_to_8x_and_stays_in_range(self):
        torch.manual_seed(0)
        dec = LearnedDecoder()
        with torch.no_grad():
            for p in dec.out.parameters():
                p.normal_(0, 1.0)  # a large correction, to see the clamp
            y = dec(torch.rand(1, 3, 24, 40) * 2 - 1)
        self.assertEqual(tuple(y.shape), (1, 3, 192, 320))
        self.assertLessEqual(float(y.abs().max()), 1.0)
        self.assertGreater(float((y.abs() == 1).float().mean()), 0.01)


if __name__ == '__main__':
    unittest.main()
