"""Extract the sprites (Noto Emoji, Apache-2.0) from the npm package emoji-datasource-google: the 24 subjects, then
v2's accessories (top hat, sunglasses, crown, scarf), then the procedural space suit and helmet (scenes_v2.py).

Usage: /usr/bin/python3 tools/train/prepare.py [path/to/node_modules/emoji-datasource-google]
Writes tools/train/.work/sprites.npz ([24 + 6, 64, 64, 4] uint8 RGBA; v1's scripts read the first 24).
"""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from common import SUBJECTS, WORK  # noqa: E402
from scenes_v2 import ACCESSORY_SPRITES, space_suit_sprites  # noqa: E402

src = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    'EMOJI_DATASOURCE_GOOGLE', '/tmp/emoji_train/node_modules/emoji-datasource-google')
os.makedirs(WORK, exist_ok=True)
arr = []
for png in [png for _, png in SUBJECTS] + ACCESSORY_SPRITES:
    im = Image.open(os.path.join(src, 'img', 'google', '64', png)).convert('RGBA')
    assert im.size == (64, 64), (png, im.size)
    arr.append(np.asarray(im))
arr += list(space_suit_sprites(64))
np.savez_compressed(os.path.join(WORK, 'sprites.npz'), sprites=np.stack(arr))
print('wrote', len(arr), 'sprites to', os.path.join(WORK, 'sprites.npz'))
