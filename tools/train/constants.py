"""Paths and sizes shared by every part of the imagine-tiny pipeline."""
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODEL_DIR = os.path.join(ROOT, 'models', 'imagine-tiny')
WORK = os.path.join(ROOT, 'tools', 'train', '.work')
TOKENIZER_DIR = os.path.join(MODEL_DIR, 'tokenizer')

RES = 32            # pixel-space resolution the UNet works at
UPSCALE = 8         # fixed decoder upscale: 32 -> 256
CTX_DIM = 256       # text context width (encoder_hidden_states D)
SEQ = 77
SIGMA_DATA = 0.5
SCALING_FACTOR = 1.0  # pixels in [-1, 1] are the "latents"; the decoder receives latents / 1.0
