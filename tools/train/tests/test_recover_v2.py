"""Tests of rebuilding v2's training checkpoint from exported graphs (tools/train/recover_v2.py).

Run: /usr/bin/python3 -m unittest discover tools/train/tests
Random networks go through export.py's own export_graphs into a temporary model folder and must come back exactly,
in both shapes the shipped model has had (3 slot places, then 5 once grown for above/below).
"""
import json
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from constants import RES  # noqa: E402
from export import export_graphs  # noqa: E402
from networks import CTX_DIM, ClipTextEncoder, EpsUNet, v2_networks  # noqa: E402
from recover_v2 import ema_only, recover_checkpoint  # noqa: E402
from test_scenes_v2 import TOK  # noqa: E402
from text import build_index_table_v2  # noqa: E402


def exported(vertical: bool, model_dir: str):
    torch.manual_seed(3 + vertical)
    table, rows, han = build_index_table_v2(TOK, vertical)
    te, unet = v2_networks(rows, han, vertical)
    with torch.no_grad():  # every parameter random, zero-initialised ones included, so a swap would show
        for p in [*te.parameters(), *unet.parameters()]:
            p.normal_(0, 0.05)
    te_wrap, eps = ClipTextEncoder(te, table).eval(), EpsUNet(unet).eval()
    ids = torch.tensor([TOK('a dog above a cat'), TOK('')], dtype=torch.int64)
    args = (torch.randn(2, 3, RES, RES), torch.tensor([500.0, 3.0]), torch.randn(2, 77, CTX_DIM))
    export_graphs(te_wrap, eps, (ids,), args, model_dir)
    with open(os.path.join(model_dir, 'eval.json'), 'w') as f:
        json.dump({'checkpoint_step': 1234, 'training_minutes': 5.5}, f)
    return te, unet


class RecoverCheckpoint(unittest.TestCase):
    def check(self, vertical: bool):
        with tempfile.TemporaryDirectory() as d:
            te, unet = exported(vertical, d)
            ck = recover_checkpoint(d)
        self.assertEqual((ck['step'], ck['elapsed'], ck['vertical']), (1234, 330.0, vertical))
        self.assertNotIn('opt', ck)  # train_v2.py starts a fresh optimizer for it
        for want, got in ((te.state_dict(), ck['ema_te']), (unet.state_dict(), ck['ema_unet']),
                          (te.state_dict(), ck['te']), (unet.state_dict(), ck['unet'])):
            self.assertEqual(sorted(want), sorted(got))
            for k in want:
                self.assertTrue(torch.equal(want[k], got[k]), k)
        # and it loads strictly into the networks train_v2.py builds for it
        _, rows, han = build_index_table_v2(TOK, vertical)
        self.assertEqual(ck['rows'], rows)
        te2, unet2 = v2_networks(rows, han, vertical)
        te2.load_state_dict(ck['te'])
        unet2.load_state_dict(ck['unet'])

    def test_a_training_checkpoint_gives_what_its_exported_graphs_give(self):
        with tempfile.TemporaryDirectory() as d:
            te, unet = exported(True, d)
            from_graphs = recover_checkpoint(d)
        noise = {k: v + 1 for k, v in unet.state_dict().items()}  # trained weights that differ from the EMA
        ck = dict(te=te.state_dict(), unet=noise, ema_te=te.state_dict(), ema_unet=unet.state_dict(), opt={'state': {}},
                  np_rng=None, torch_rng=None, step=1234, elapsed=330.0, rows=from_graphs['rows'], vertical=True,
                  args={'pool_step': 0, 'slot_step': 0})
        got = ema_only(ck)
        self.assertEqual(sorted(set(got) - {'recovered_from'}), sorted(set(from_graphs) - {'recovered_from'}))
        for part in ('te', 'unet', 'ema_te', 'ema_unet'):
            for k, v in from_graphs[part].items():
                self.assertTrue(torch.equal(v, got[part][k]), (part, k))

    def test_three_places(self):
        self.check(False)

    def test_grown_for_above_below(self):
        self.check(True)


if __name__ == '__main__':
    unittest.main()
