"""Extract the 24 subject sprites (Noto Emoji, Apache-2.0) from the npm package emoji-datasource-google.

Usage: /usr/bin/python3 tools/train/prepare.py [path/to/node_modules/emoji-datasource-google]
Writes tools/train/.work/sprites.npz ([24, 64, 64, 4] uint8 RGBA).
"""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from common import SUBJECTS, WORK  # noqa: E402

src = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    'EMOJI_DATASOURCE_GOOGLE', '/tmp/emoji_train/node_modules/emoji-datasource-google')
os.makedirs(WORK, exist_ok=True)
arr = []
for name, png in SUBJECTS:
    im = Image.open(os.path.join(src, 'img', 'google', '64', png)).convert('RGBA')
    assert im.size == (64, 64), (png, im.size)
    arr.append(np.asarray(im))
np.savez_compressed(os.path.join(WORK, 'sprites.npz'), sprites=np.stack(arr))
print('wrote', len(arr), 'sprites to', os.path.join(WORK, 'sprites.npz'))
