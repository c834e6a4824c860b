"""Shared pieces of the imagine-tiny pipeline: vocabulary, CLIP tokenizer, scene generator, networks, schedule.

Everything here is deterministic given a seed. Run with Debian's python (/usr/bin/python3): torch 1.13, numpy, PIL.
"""
from __future__ import annotations

import json
import math
import os
import re
from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

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

# ---------------------------------------------------------------------------------------------------------------
# Subjects (Noto Emoji sprites from emoji-datasource-google) and background colours
# ---------------------------------------------------------------------------------------------------------------
SUBJECTS = [
    ('cat', '1f431.png'), ('dog', '1f436.png'), ('frog', '1f438.png'), ('pig', '1f437.png'),
    ('fish', '1f41f.png'), ('penguin', '1f427.png'), ('apple', '1f34e.png'), ('banana', '1f34c.png'),
    ('pizza', '1f355.png'), ('carrot', '1f955.png'), ('grapes', '1f347.png'), ('rocket', '1f680.png'),
    ('car', '1f697.png'), ('house', '1f3e0.png'), ('tree', '1f333.png'), ('sunflower', '1f33b.png'),
    ('star', '2b50.png'), ('heart', '2764-fe0f.png'), ('moon', '1f319.png'), ('ghost', '1f47b.png'),
    ('robot', '1f916.png'), ('mushroom', '1f344.png'), ('cactus', '1f335.png'), ('snowman', '26c4.png'),
]
SUBJECT_NAMES = [s for s, _ in SUBJECTS]
NS = len(SUBJECTS)

COLOURS = [
    ('red', (215, 40, 40)), ('orange', (245, 140, 30)), ('yellow', (245, 215, 50)), ('green', (60, 165, 70)),
    ('blue', (45, 95, 215)), ('purple', (135, 65, 185)), ('pink', (245, 150, 195)), ('white', (245, 245, 245)),
    ('black', (20, 20, 20)), ('gray', (128, 128, 128)),
]
COLOUR_NAMES = [c for c, _ in COLOURS]
NC = len(COLOURS)
COLOUR_SYNONYMS = {'gray': ['gray', 'grey']}


def article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


# Held-out combinations (never captioned in training; the evaluation prompts use only these).
def heldout_single() -> set[tuple[int, int]]:
    return {(i, (3 * i) % NC) for i in range(NS)} | {(i, (3 * i + 5) % NC) for i in range(NS)}


def heldout_pairs() -> set[frozenset]:
    rng = np.random.RandomState(1234)
    allp = [(a, b) for a in range(NS) for b in range(a + 1, NS)]
    idx = rng.permutation(len(allp))[:40]
    return {frozenset(allp[i]) for i in idx}


# ---------------------------------------------------------------------------------------------------------------
# CLIP BPE tokenizer (OpenAI's rules: lower-case, whitespace clean, BPE, BOS/EOS, pad to 77 with EOS)
# ---------------------------------------------------------------------------------------------------------------
BOS, EOS = 49406, 49407


def _bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class ClipTokenizer:
    # ASCII approximation of CLIP's \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+ pattern (exact for ASCII prompts).
    PAT = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.I)

    def __init__(self, folder: str = TOKENIZER_DIR):
        with open(os.path.join(folder, 'vocab.json'), encoding='utf8') as f:
            self.encoder = json.load(f)
        with open(os.path.join(folder, 'merges.txt'), encoding='utf8') as f:
            merges = f.read().split('\n')[1:49152 - 256 - 2 + 1]
        self.ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()
        self.cache: dict[str, list[str]] = {}

    def bpe(self, token: str) -> list[str]:
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + '</w>']
        while len(word) > 1:
            pairs = [(word[i], word[i + 1]) for i in range(len(word) - 1)]
            best = min(pairs, key=lambda p: self.ranks.get(p, 1e18))
            if best not in self.ranks:
                break
            new, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    new.append(word[i] + word[i + 1])
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = new
        self.cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        text = re.sub(r'\s+', ' ', text).strip().lower()
        ids = []
        for tok in self.PAT.findall(text):
            tok = ''.join(self.byte_encoder[b] for b in tok.encode('utf-8'))
            ids.extend(self.encoder[t] for t in self.bpe(tok))
        return ids

    def __call__(self, text: str) -> list[int]:
        ids = [BOS] + self.encode(text)[:SEQ - 2] + [EOS]
        return ids + [EOS] * (SEQ - len(ids))


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary: CLIP ids -> rows of the small embedding table
# ---------------------------------------------------------------------------------------------------------------
ROW_PAD, ROW_BOS, ROW_UNK = 0, 1, 2
FUNCTION_WORDS = ['a', 'an', 'on', 'background', 'left', 'right', 'of', 'and', 'with', 'to', 'the', ',']


def known_words() -> list[str]:
    words = SUBJECT_NAMES + [w for c in COLOUR_NAMES for w in COLOUR_SYNONYMS.get(c, [c])] + FUNCTION_WORDS
    return sorted(set(w for w in words if w.isalpha()))


def build_index_table(tok: ClipTokenizer) -> tuple[np.ndarray, int]:
    table = np.full(49408, ROW_UNK, dtype=np.int64)
    table[EOS] = ROW_PAD
    table[BOS] = ROW_BOS
    row = 3
    for w in known_words() + [',']:
        for i in tok.encode(w):
            if table[i] == ROW_UNK:
                table[i] = row
                row += 1
    return table, row


def slot_targets(rows: list[int], table: np.ndarray, tok: ClipTokenizer, left: int | None = None,
                 right: int | None = None, centre: int | None = None) -> list[int]:
    """For a caption's embedding rows: index of the token naming the subject at the (left, right, centre) places
    of SlotField; 0 (BOS) = nothing there. Every subject name is one CLIP token."""
    return [0 if s is None else rows.index(int(table[tok.encode(SUBJECT_NAMES[s])[0]])) for s in (left, right, centre)]


# ---------------------------------------------------------------------------------------------------------------
# Scene generator
# ---------------------------------------------------------------------------------------------------------------
class Scenes:
    """Renders 32x32 scenes with emoji sprites and writes compositional captions."""

    def __init__(self, sprites: np.ndarray, seed: int, exclude_heldout: bool = True):
        self.mix = (0.5, 0.95)  # cumulative shares of single-subject and two-subject scenes (the rest: background)
        self.src = sprites.astype(np.float32) / 255.0  # [NS, 64, 64, 4]
        self.rng = np.random.RandomState(seed)
        self.exclude = exclude_heldout
        self.h_single = heldout_single()
        self.h_pairs = heldout_pairs()
        self._sized = {}

    def sprite(self, i: int, size: int) -> np.ndarray:
        key = (i, size)
        if key not in self._sized:
            from PIL import Image
            im = Image.fromarray((self.src[i] * 255).round().astype(np.uint8), 'RGBA').convert('RGBa')
            im = im.resize((size, size), Image.LANCZOS).convert('RGBA')
            a = np.asarray(im).astype(np.float32) / 255.0
            self._sized[key] = a
        return self._sized[key]

    def background(self, c: int) -> np.ndarray:
        self.mask = np.zeros((RES, RES), np.float32)  # alpha coverage of the sprites pasted since
        rgb = np.array(COLOURS[c][1], np.float32) + self.rng.uniform(-12, 12, 3)
        img = np.empty((RES, RES, 3), np.float32)
        img[:] = np.clip(rgb, 0, 255) / 255.0
        return img

    def paste(self, img: np.ndarray, i: int, size: int, cx: float, cy: float):
        spr = self.sprite(i, size)
        x0 = int(round(cx - size / 2))
        y0 = int(round(cy - size / 2))
        xs, ys = max(0, x0), max(0, y0)
        xe, ye = min(RES, x0 + size), min(RES, y0 + size)
        s = spr[ys - y0:ye - y0, xs - x0:xe - x0]
        a = s[..., 3:4]
        img[ys:ye, xs:xe] = img[ys:ye, xs:xe] * (1 - a) + s[..., :3] * a
        self.mask[ys:ye, xs:xe] = np.maximum(self.mask[ys:ye, xs:xe], a[..., 0])

    def colour_word(self, c: int) -> str:
        syn = COLOUR_SYNONYMS.get(COLOUR_NAMES[c], [COLOUR_NAMES[c]])
        return syn[self.rng.randint(len(syn))]

    def render_single(self, s: int, c: int) -> np.ndarray:
        r = self.rng
        img = self.background(c)
        size = r.randint(18, 27)
        self.paste(img, s, size, 16 + r.uniform(-3, 3), 16 + r.uniform(-3, 3))
        return img

    def render_pair(self, a: int, b: int, c: int) -> np.ndarray:
        r = self.rng
        img = self.background(c)
        sa, sb = r.randint(12, 16), r.randint(12, 16)
        self.paste(img, a, sa, r.uniform(7, 10), 16 + r.uniform(-5, 5))
        self.paste(img, b, sb, r.uniform(22, 25), 16 + r.uniform(-5, 5))
        return img

    def sample(self):
        """Returns (image HxWx3 in [0,1], caption, labels dict)."""
        r = self.rng
        kind = r.rand()
        if kind < self.mix[0]:
            s = r.randint(NS)
            while True:
                c = r.randint(NC)
                if not (self.exclude and (s, c) in self.h_single):
                    break
            img = self.render_single(s, c)
            name, col, art = SUBJECT_NAMES[s], self.colour_word(c), article(SUBJECT_NAMES[s])
            t = r.rand()
            if t < 0.6:
                cap = f'{art} {name} on a {col} background'
            elif t < 0.75:
                cap = f'{art} {name}' if r.rand() < 0.5 else name
            elif t < 0.85:
                cap = f'a {col} background with {art} {name}'
            else:
                cap = f'{name}, {col} background'
            return img, cap, {'kind': 1, 'subject': s, 'colour': c}
        if kind < self.mix[1]:
            while True:
                a, b = r.randint(NS), r.randint(NS)
                if a != b and not (self.exclude and frozenset((a, b)) in self.h_pairs):
                    break
            c = r.randint(NC)
            img = self.render_pair(a, b, c)
            A, B = SUBJECT_NAMES[a], SUBJECT_NAMES[b]
            t = r.rand()
            if t < 0.35:
                cap = f'{article(A)} {A} left of {article(B)} {B}'
            elif t < 0.7:
                cap = f'{article(B)} {B} right of {article(A)} {A}'
            elif t < 0.8:
                cap = f'{article(A)} {A} to the left of {article(B)} {B}'
            elif t < 0.9:
                cap = f'{article(B)} {B} to the right of {article(A)} {A}'
            else:
                cap = f'{article(A)} {A} and {article(B)} {B}'
            if r.rand() < 0.7:
                cap += f' on a {self.colour_word(c)} background'
            return img, cap, {'kind': 2, 'left': a, 'right': b, 'colour': c}
        c = r.randint(NC)
        img = self.background(c)
        col = self.colour_word(c)
        cap = f'a {col} background' if r.rand() < 0.5 else f'{col} background'
        return img, cap, {'kind': 0, 'colour': c}


def load_sprites() -> np.ndarray:
    return np.load(os.path.join(WORK, 'sprites.npz'))['sprites']


# ---------------------------------------------------------------------------------------------------------------
# Noise schedule (Stable Diffusion's scaled_linear, 1000 steps) in the Euler (sigma) form
# ---------------------------------------------------------------------------------------------------------------
N_TRAIN = 1000
BETA_START, BETA_END = 0.00085, 0.012


def sd_sigmas() -> np.ndarray:
    betas = np.linspace(BETA_START ** 0.5, BETA_END ** 0.5, N_TRAIN, dtype=np.float64) ** 2
    ac = np.cumprod(1.0 - betas)
    return np.sqrt((1 - ac) / ac)


SIGMAS = sd_sigmas()


def sigma_of_t(t: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of the sigma table at (fractional) timesteps, as diffusers' Euler schedulers do."""
    t = t.clamp(0, N_TRAIN - 1)
    lo = torch.floor(t)
    frac = t - lo
    lo_i = lo.long()
    hi_i = torch.clamp(lo_i + 1, max=N_TRAIN - 1)
    return table[lo_i] * (1 - frac) + table[hi_i] * frac


# ---------------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim: int, ctx_dim: int, heads: int):
        super().__init__()
        self.h = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(ctx_dim, dim, bias=False)
        self.v = nn.Linear(ctx_dim, dim, bias=False)
        self.o = nn.Linear(dim, dim)

    def forward(self, x, ctx):
        b, n, d = x.shape
        m = ctx.shape[1]
        h = self.h
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(ctx).reshape(b, m, h, d // h).transpose(1, 2)
        v = self.v(ctx).reshape(b, m, h, d // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d // h)), dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(b, n, d))


class TextEncoder(nn.Module):
    """Row ids -> [B, 77, 256]: word embeddings + positions + 2 small pre-norm transformer layers (width 128)."""

    def __init__(self, rows: int, dim: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.emb = nn.Embedding(rows, dim)
        self.pos = nn.Parameter(torch.zeros(1, SEQ, dim))
        nn.init.normal_(self.emb.weight, std=0.3)
        nn.init.normal_(self.pos, std=0.1)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict(dict(
                n1=nn.LayerNorm(dim), att=Attention(dim, dim, heads), n2=nn.LayerNorm(dim),
                ff=nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim)))))
        self.out = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, CTX_DIM)

    def forward(self, rows):
        x = self.emb(rows) + self.pos
        for b in self.blocks:
            y = b['n1'](x)
            x = x + b['att'](y, y)
            x = x + b['ff'](b['n2'](x))
        return self.proj(self.out(x))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class XAttnBlock(nn.Module):
    def __init__(self, ch, ctx_dim, heads=4, self_attn=True):
        super().__init__()
        self.use_self = self_attn
        if self_attn:
            self.n1 = nn.GroupNorm(8, ch)
            self.self_att = Attention(ch, ch, heads)
        self.n2 = nn.GroupNorm(8, ch)
        self.x_att = Attention(ch, ctx_dim, heads)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        if self.use_self:
            y = self.n1(x).reshape(b, c, h * w).transpose(1, 2)
            x = x + self.self_att(y, y).transpose(1, 2).reshape(b, c, h, w)
        y = self.n2(x).reshape(b, c, h * w).transpose(1, 2)
        x = x + self.x_att(y, ctx).transpose(1, 2).reshape(b, c, h, w)
        return x


class SlotField(nn.Module):
    """Where each named thing goes. For each place (left, right, centre) a 7-token convolution over the text scores
    every token ("is this the word for the thing on the left?"); a softmax over the 77 tokens picks that place's
    word, and the field is sum_k map_k(x, y) * word_k, with a learned spatial map per place.

    Plain cross-attention at 8x8 learned *what* to draw but not *where* (two subjects in the asked order: 6 % after
    4,200 steps): nothing tied "left of" to the left half. A word's place is set by its neighbours ("a cat left of"
    vs "left of a cat"), so a convolution over the tokens can learn it; training also tells it the answer (the scene
    generator knows which word is where, train.py), and BOS stands for "nothing at this place". Maps start as
    Gaussians at the places the scene generator uses and are trained with everything else.
    """

    def __init__(self, ctx_dim: int, slots: int = 3, dim: int = 64):
        super().__init__()
        self.dim = dim
        self.score = nn.Conv1d(ctx_dim, slots, 7, padding=3)
        self.v = nn.Linear(ctx_dim, dim)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, RES), torch.linspace(-1, 1, RES), indexing='ij')
        centres = [(-0.47, 0.0, 0.3), (0.47, 0.0, 0.3), (0.0, 0.0, 0.45)][:slots]
        maps = [torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * w * w)) for cx, cy, w in centres]
        self.maps = nn.Parameter(torch.stack(maps).reshape(slots, RES * RES))

    def scores(self, ctx):
        """[B, 77, C] -> [B, K, 77] logits: which token names the thing at each place."""
        return self.score(ctx.transpose(1, 2))

    def forward(self, ctx):
        words = torch.softmax(self.scores(ctx), dim=-1) @ self.v(ctx)  # [B, K, dim]
        return (words.transpose(1, 2) @ self.maps).reshape(ctx.shape[0], self.dim, RES, RES)


SLOT_LEVELS = ('d0', 'd1', 'd2', 'm', 'u2', 'u1', 'u0')


class UNet(nn.Module):
    """Pixel UNet 32 -> 16 -> 8 with self- and cross-attention at 8x8; input gets 2 coordinate channels; a spatial
    slot field from the text is added at every level."""

    def __init__(self, ch=(32, 64, 128), ctx_dim=CTX_DIM):
        super().__init__()
        c0, c1, c2 = ch
        tdim = c0 * 4
        self.tmlp = nn.Sequential(nn.Linear(c0, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.c0 = c0
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, RES), torch.linspace(-1, 1, RES), indexing='ij')
        self.register_buffer('coords', torch.stack([xs, ys])[None], persistent=False)
        self.inp = nn.Conv2d(3 + 2, c0, 3, padding=1)
        self.d0 = ResBlock(c0, c0, tdim)
        self.down0 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)
        self.d1 = ResBlock(c1, c1, tdim)
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.d2 = ResBlock(c2, c2, tdim)
        self.a2 = XAttnBlock(c2, ctx_dim)
        self.m = ResBlock(c2, c2, tdim)
        self.am = XAttnBlock(c2, ctx_dim)
        self.u2 = ResBlock(c2 * 2, c2, tdim)
        self.ua2 = XAttnBlock(c2, ctx_dim)
        self.up2 = nn.Conv2d(c2, c1, 3, padding=1)
        self.u1 = ResBlock(c1 * 2, c1, tdim)
        self.up1 = nn.Conv2d(c1, c0, 3, padding=1)
        self.u0 = ResBlock(c0 * 2, c0, tdim)
        self.out_n = nn.GroupNorm(8, c0)
        self.out = nn.Conv2d(c0, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # pooled-text path (added at step 1500 of the shipped run): mean of the context over the 77 tokens -> added
        # to the time embedding, so the subject word can steer every ResBlock. Zero-initialised; created without
        # touching the global RNG so runs with and without it draw the same random numbers.
        with torch.random.fork_rng():
            self.pool = nn.Linear(ctx_dim, tdim)
        nn.init.zeros_(self.pool.weight)
        nn.init.zeros_(self.pool.bias)
        self.register_buffer('pool_gate', torch.zeros(()), persistent=False)
        # spatial slot field (added at step 4206 of the shipped run), added after every ResBlock through a
        # zero-initialised 1x1 convolution per level; created without touching the global RNG, like the pooled path
        with torch.random.fork_rng():
            self.slots = SlotField(ctx_dim)
            widths = dict(d0=c0, d1=c1, d2=c2, m=c2, u2=c2, u1=c1, u0=c0)
            self.slot_proj = nn.ModuleDict({k: nn.Conv2d(self.slots.dim, widths[k], 1) for k in SLOT_LEVELS})
        for conv in self.slot_proj.values():
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.register_buffer('slot_gate', torch.zeros(()), persistent=False)

    def time_embed(self, c_noise):
        half = self.c0 // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = c_noise[:, None] * 100.0 * freqs[None]
        return self.tmlp(torch.cat([torch.sin(a), torch.cos(a)], dim=1))

    def forward(self, x, c_noise, ctx):
        temb = self.time_embed(c_noise) + self.pool_gate * self.pool(ctx.mean(dim=1))
        f32 = self.slots(ctx)
        f16 = F.avg_pool2d(f32, 2)
        f8 = F.avg_pool2d(f16, 2)

        def sp(level, field):  # gated after the projection, so that nothing here trains (not even a bias) until on
            return self.slot_gate * self.slot_proj[level](field)

        h0 = self.d0(self.inp(torch.cat([x, self.coords.expand(x.shape[0], -1, -1, -1)], 1)), temb) + sp('d0', f32)
        h1 = self.d1(self.down0(h0), temb) + sp('d1', f16)
        h2 = self.a2(self.d2(self.down1(h1), temb) + sp('d2', f8), ctx)
        h = self.am(self.m(h2, temb) + sp('m', f8), ctx)
        h = self.ua2(self.u2(torch.cat([h, h2], 1), temb) + sp('u2', f8), ctx)
        h = self.up2(F.interpolate(h, scale_factor=2.0, mode='nearest'))
        h = self.u1(torch.cat([h, h1], 1), temb) + sp('u1', f16)
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode='nearest'))
        h = self.u0(torch.cat([h, h0], 1), temb) + sp('u0', f32)
        return self.out(F.silu(self.out_n(h)))


def denoise(unet: UNet, x: torch.Tensor, sigma: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
    """EDM preconditioning: x = x0 + sigma*eps (unscaled) -> predicted x0."""
    s = sigma[:, None, None, None]
    sd2 = SIGMA_DATA ** 2
    c_skip = sd2 / (s ** 2 + sd2)
    c_out = s * SIGMA_DATA / torch.sqrt(s ** 2 + sd2)
    c_in = 1.0 / torch.sqrt(s ** 2 + sd2)
    c_noise = torch.log(sigma) / 4.0
    return c_skip * x + c_out * unet(c_in * x, c_noise, ctx)


class EpsUNet(nn.Module):
    """What is exported as unet/model.onnx: the engine's (sample = x/sqrt(sigma^2+1), timestep) -> epsilon."""

    def __init__(self, unet: UNet):
        super().__init__()
        self.unet = unet
        self.register_buffer('sigmas', torch.tensor(SIGMAS, dtype=torch.float32), persistent=False)

    def forward(self, sample, timestep, encoder_hidden_states):
        sigma = sigma_of_t(timestep.float().reshape(-1).expand(sample.shape[0]), self.sigmas)
        x = sample * torch.sqrt(sigma ** 2 + 1)[:, None, None, None]
        x0 = denoise(self.unet, x, sigma, encoder_hidden_states)
        return (x - x0) / sigma[:, None, None, None]


class ClipTextEncoder(nn.Module):
    """What is exported as text_encoder/model.onnx: CLIP ids -> rows (Gather) -> TextEncoder."""

    def __init__(self, te: TextEncoder, table: np.ndarray):
        super().__init__()
        self.te = te
        self.register_buffer('table', torch.tensor(table, dtype=torch.int64), persistent=False)

    def forward(self, input_ids):
        return self.te(self.table[input_ids.long()])


class Decoder(nn.Module):
    """vae_decoder/model.onnx: fixed x8 bilinear upscaler, clamped to [-1, 1]."""

    def forward(self, latent_sample):
        return torch.clamp(F.interpolate(latent_sample, scale_factor=float(UPSCALE), mode='bilinear',
                                         align_corners=False), -1.0, 1.0)


def build_models(rows: int):
    return TextEncoder(rows), UNet()


# ---------------------------------------------------------------------------------------------------------------
# Euler sampler: exactly what the engine does with EulerDiscreteScheduler, timestep_spacing "trailing"
# ---------------------------------------------------------------------------------------------------------------
def trailing_timesteps(n: int) -> np.ndarray:
    return (np.round(np.arange(N_TRAIN, 0, -N_TRAIN / n)) - 1).astype(np.float64)


@torch.no_grad()
def euler_sample(eps_unet: EpsUNet, cond: torch.Tensor, uncond: torch.Tensor, steps: int, cfg: float,
                 noise: torch.Tensor) -> torch.Tensor:
    ts = trailing_timesteps(steps)
    sig = np.interp(ts, np.arange(N_TRAIN), SIGMAS)
    sig = np.append(sig, 0.0)
    x = noise * float(sig[0])  # init_noise_sigma = sigma_max for trailing spacing
    b = x.shape[0]
    for i, t in enumerate(ts):
        s = float(sig[i])
        x_in = x / math.sqrt(s * s + 1)
        if cfg > 1:
            inp = torch.cat([x_in, x_in])
            tt = torch.full((2 * b,), float(t))
            e = eps_unet(inp, tt, torch.cat([uncond, cond]))
            eu, ec = e[:b], e[b:]
            e = eu + cfg * (ec - eu)
        else:
            e = eps_unet(x_in, torch.full((b,), float(t)), cond)
        x0 = x - s * e
        d = (x - x0) / s
        x = x + d * (float(sig[i + 1]) - s)
    return x
