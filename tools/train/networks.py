"""Networks of imagine-tiny: text encoder, UNet (with EDM preconditioning and the epsilon wrapper that is exported),
and the vae_decoder variants (the v1 bilinear upscale and the learned decoder)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from constants import CTX_DIM, RES, SEQ, SIGMA_DATA, UPSCALE
from schedule import SIGMAS, sigma_of_t

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
        # left, right, centre (v1, v2), then top and bottom (v2's --vertical-step: text.PLACES)
        centres = [(-0.47, 0.0, 0.3), (0.47, 0.0, 0.3), (0.0, 0.0, 0.45), (0.0, -0.47, 0.3), (0.0, 0.47, 0.3)][:slots]
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

    def __init__(self, ch=(32, 64, 128), ctx_dim=CTX_DIM, slots: int = 3):
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
            self.slots = SlotField(ctx_dim, slots)
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

    @property
    def places(self) -> int:
        """How many places the slot field has: 3 (left, right, centre), or 5 once grown for above/below
        (vertical.grow_for_vertical adds top and bottom; text.PLACES)."""
        return self.slots.maps.shape[0]

    @property
    def above_below(self) -> bool:
        return self.places == 5

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
    """v1's vae_decoder: fixed x8 bilinear upscaler, clamped to [-1, 1]. Kept as the baseline of the learned one."""

    def forward(self, latent_sample):
        return torch.clamp(F.interpolate(latent_sample, scale_factor=float(UPSCALE), mode='bilinear',
                                         align_corners=False), -1.0, 1.0)


BilinearDecoder = Decoder


class _ResConv(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1, padding_mode='replicate')
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1, padding_mode='replicate')

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(x)))


class LearnedDecoder(nn.Module):
    """vae_decoder v2: 32x32 RGB in [-1, 1] -> 256x256, clamped to [-1, 1].

    The bilinear x8 upscale of the input plus a learned correction: a small convolutional net reads the 32x32 picture
    (at 32 and 16 px, so it sees a whole sprite), and sub-pixel convolutions (pixel shuffle x2 to 64 px, then x4 to
    256 px) paint the correction's detail. The last convolution starts at zero, so an untrained decoder is exactly
    v1's bilinear one. The convolutions pad by replicating the edge, so a picture's border looks like a flat
    background continuing rather than a black frame.
    """

    def __init__(self, ch: int = 48, mid: int = 64, fine: int = 24):
        super().__init__()
        pad = dict(padding=1, padding_mode='replicate')
        self.inp = nn.Conv2d(3, ch, 3, **pad)
        self.body32 = nn.Sequential(_ResConv(ch), _ResConv(ch))
        self.down = nn.Conv2d(ch, mid, 3, stride=2, **pad)
        self.body16 = nn.Sequential(_ResConv(mid), _ResConv(mid), _ResConv(mid))
        self.up16 = nn.Sequential(nn.Conv2d(mid, ch * 4, 3, **pad), nn.PixelShuffle(2))
        self.merge32 = _ResConv(ch)
        self.up32 = nn.Sequential(nn.Conv2d(ch, fine * 4, 3, **pad), nn.PixelShuffle(2))
        self.body64 = _ResConv(fine)
        self.out = nn.Conv2d(fine, 3 * 16, 3, **pad)
        self.shuffle = nn.PixelShuffle(4)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, latent_sample):
        x = latent_sample
        base = F.interpolate(x, scale_factor=float(UPSCALE), mode='bilinear', align_corners=False)
        h32 = self.body32(F.relu(self.inp(x)))
        h16 = self.body16(F.relu(self.down(h32)))
        h = self.merge32(h32 + self.up16(h16))
        h = self.body64(F.relu(self.up32(F.relu(h))))
        return torch.clamp(base + self.shuffle(self.out(F.relu(h))), -1.0, 1.0)


def build_models(rows: int):
    return TextEncoder(rows), UNet()



class TextEncoderV2(TextEncoder):
    """v1's text encoder plus hashed n-gram embeddings for Chinese.

    CLIP's byte-level BPE cuts a Chinese character into two or three byte pieces that many characters share (猫 and
    狗 both start with piece 163), so the row of one piece says little. At each non-ASCII piece the encoder adds the
    embedding of the bigram and of the trigram of rows ending there (hashed into `buckets` rows each): the piece that
    ends a character then carries that character's identity, as a whole English word's token does, and the two
    transformer layers only have to read words from characters. ASCII tokens get nothing added (han = 0), so English
    prompts go through v1's path exactly. The n-gram rows start at zero (v1's behaviour) and rows of n-grams never
    seen in training stay zero.
    """

    BUCKETS = 8191  # prime; tools/train/tests check that the characters of the known words do not collide
    BASE = 1049  # prime; 1024 made 墨 and 巾 share both buckets (1024 * 8 = 1 mod 8191), 1031 右 and 机 (the test)

    def __init__(self, rows: int, han: np.ndarray, dim: int = 128, **kw):
        super().__init__(rows, dim=dim, **kw)
        assert rows <= self.BASE
        with torch.random.fork_rng():
            self.ngram = nn.Embedding(2 * self.BUCKETS, dim)
        nn.init.zeros_(self.ngram.weight)
        self.register_buffer('han', torch.tensor(han, dtype=torch.float32)[:, None], persistent=False)

    def ngram_keys(self, rows):
        """[B, 77] rows -> ([B, 77] bigram bucket, [B, 77] trigram bucket + BUCKETS); BOS (row 1) before the start."""
        p1 = F.pad(rows[:, :-1], (1, 0), value=1)
        p2 = F.pad(rows[:, :-2], (2, 0), value=1)
        r = self.BASE  # above any row id, so the n-gram's integer is unique before the modulo
        return (p1 * r + rows) % self.BUCKETS, (p2 * r * r + p1 * r + rows) % self.BUCKETS + self.BUCKETS

    def forward(self, rows):
        k2, k3 = self.ngram_keys(rows)
        x = self.emb(rows) + self.han[rows] * (self.ngram(k2) + self.ngram(k3)) + self.pos
        for b in self.blocks:
            y = b['n1'](x)
            x = x + b['att'](y, y)
            x = x + b['ff'](b['n2'](x))
        return self.proj(self.out(x))


def v2_networks(rows: int, han: np.ndarray, vertical: bool) -> tuple[TextEncoderV2, UNet]:
    """v2's text encoder and UNet for a checkpoint of this shape (vertical: grown for above/below, 5 slot places),
    with the pooled-text path and the slot field on, as v2 trains and runs them from its first step. The text encoder
    is built first, so runs draw the same initial random numbers as before this helper existed."""
    te, unet = TextEncoderV2(rows, han), UNet(slots=5 if vertical else 3)
    unet.pool_gate.fill_(1.0)
    unet.slot_gate.fill_(1.0)
    return te, unet
