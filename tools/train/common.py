"""The imagine-tiny pipeline's shared pieces, re-exported from their modules so that every script can keep importing
from one place:

- constants.py: paths and sizes;
- scenes.py: vocabulary of subjects and colours, held-out combinations, the scene generator (32x32 and paired
  256x256 renders);
- text.py: CLIP tokenizer and the CLIP id -> embedding row table;
- schedule.py: noise schedule and the engine's Euler sampler;
- networks.py: text encoder, UNet, exported wrappers and the vae_decoder networks.

Everything is deterministic given a seed. Run with Debian's python (/usr/bin/python3): see requirements.txt.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from constants import *  # noqa: E402,F401,F403
from networks import *  # noqa: E402,F401,F403
from scenes import *  # noqa: E402,F401,F403
from schedule import *  # noqa: E402,F401,F403
from text import *  # noqa: E402,F401,F403
