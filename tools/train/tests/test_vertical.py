"""Tests of growing a v2 checkpoint for the above/below stage (tools/train/vertical.py).

Run: /usr/bin/python3 -m unittest discover tools/train/tests
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from networks import TextEncoderV2, UNet  # noqa: E402
from test_scenes_v2 import TOK  # noqa: E402
from text import build_index_table_v2  # noqa: E402
from vertical import grow_for_vertical  # noqa: E402


def v2_checkpoint():
    """A small stand-in for .work/ckpt_v2.pt: random v2 networks after one optimizer step."""
    torch.manual_seed(0)
    table, rows, han = build_index_table_v2(TOK)
    te, unet = TextEncoderV2(rows, han), UNet()
    unet.slot_gate.fill_(1.0)
    params = list(te.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3)
    ids = torch.tensor([[int(table[i]) for i in TOK('a cat left of a dog')]])
    ctx = te(ids)
    (unet(torch.randn(1, 3, 32, 32), torch.tensor([0.5]), ctx) ** 2).mean().backward()
    opt.step()
    sd_te, sd_unet = te.state_dict(), unet.state_dict()
    return dict(te=sd_te, unet=sd_unet, ema_te=sd_te, ema_unet=sd_unet, opt=opt.state_dict(), step=5100,
                rows=rows), te, unet, table


class GrowForVertical(unittest.TestCase):
    def test_grown_networks_keep_every_old_weight_and_load_strictly(self):
        ck, te, unet, table = v2_checkpoint()
        g = grow_for_vertical(ck, TOK)
        _, rows2, han2 = build_index_table_v2(TOK, vertical=True)
        self.assertEqual((g['rows'], g['vertical']), (rows2, True))
        te2, unet2 = TextEncoderV2(rows2, han2), UNet(slots=5)
        te2.load_state_dict(g['te'])
        unet2.load_state_dict(g['unet'])
        n = ck['rows']
        self.assertTrue(torch.equal(te2.emb.weight[:n], te.emb.weight))
        self.assertGreater(float(te2.emb.weight[n:].std()), 0.5 * float(te.emb.weight[3:].std()))
        self.assertTrue(torch.equal(unet2.slots.maps[:3], unet.slots.maps))
        # the new maps cover the upper and the lower half
        top, bottom = unet2.slots.maps[3].reshape(32, 32), unet2.slots.maps[4].reshape(32, 32)
        self.assertGreater(float(top[:16].sum()), 5 * float(top[16:].sum()))
        self.assertGreater(float(bottom[16:].sum()), 5 * float(bottom[:16].sum()))
        with torch.no_grad():  # an old prompt reads the same text and the same left/right/centre token scores
            ids = torch.tensor([[int(table[i]) for i in TOK('a cat left of a dog')]])
            ctx = te(ids)
            self.assertTrue(torch.equal(te2(ids), ctx))
            self.assertTrue(torch.equal(unet2.slots.scores(ctx)[:, :3], unet.slots.scores(ctx)))
            self.assertTrue(torch.equal(unet2.slots.scores(ctx)[:, 3:], torch.zeros(1, 2, 77)))

    def test_adam_moments_grow_with_zeros_and_the_optimizer_resumes(self):
        ck, te, unet, _ = v2_checkpoint()
        g = grow_for_vertical(ck, TOK)
        _, rows2, han2 = build_index_table_v2(TOK, vertical=True)
        te2, unet2 = TextEncoderV2(rows2, han2), UNet(slots=5)
        params = list(te2.parameters()) + list(unet2.parameters())
        opt = torch.optim.AdamW(params, lr=1e-3)
        opt.load_state_dict(g['opt'])
        for idx, (p, old) in enumerate(zip(params, list(te.parameters()) + list(unet.parameters()))):
            st = opt.state[p]
            self.assertEqual(st['exp_avg'].shape, p.shape)
            k = old.shape[0]
            self.assertTrue(torch.equal(st['exp_avg'][:k], ck['opt']['state'][idx]['exp_avg']))
            if p.shape != old.shape:
                self.assertEqual(float(st['exp_avg'][k:].abs().sum()), 0.0)
        grown = [p for p, o in zip(params, list(te.parameters()) + list(unet.parameters())) if p.shape != o.shape]
        self.assertEqual(len(grown), 4)  # embedding rows, slot scores (weight, bias), slot maps


if __name__ == '__main__':
    unittest.main()
