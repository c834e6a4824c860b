"""The scene generator: what imagine-tiny knows (24 Noto Emoji subjects, 10 background colours), which combinations are
held out from training, and the renderer that draws a scene and writes its caption.

A scene is drawn at 32x32 (what the UNet learns) and, on request, the same scene at 256x256 (what the learned
vae_decoder learns to produce): same background, sprites at 8x the size and position, so that an 8x8 box average of
the large render is close to the small one. Everything is deterministic given a seed.
"""
from __future__ import annotations

import os

import numpy as np

from constants import RES, UPSCALE, WORK

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


def pair_caption(r: np.random.RandomState, left: str, right: str) -> str:
    """English caption of two subjects, `left` drawn on the left: "a cat left of a rocket", "a rocket right of a
    cat", "… to the left of …", "… to the right of …" or "a cat and a rocket" (one draw from r)."""
    A, B = left, right
    t = r.rand()
    if t < 0.35:
        return f'{article(A)} {A} left of {article(B)} {B}'
    if t < 0.7:
        return f'{article(B)} {B} right of {article(A)} {A}'
    if t < 0.8:
        return f'{article(A)} {A} to the left of {article(B)} {B}'
    if t < 0.9:
        return f'{article(B)} {B} to the right of {article(A)} {A}'
    return f'{article(A)} {A} and {article(B)} {B}'


# Held-out combinations (never captioned in training; the evaluation prompts use only these).
def heldout_single() -> set[tuple[int, int]]:
    return {(i, (3 * i) % NC) for i in range(NS)} | {(i, (3 * i + 5) % NC) for i in range(NS)}


def heldout_pairs() -> set[frozenset]:
    rng = np.random.RandomState(1234)
    allp = [(a, b) for a in range(NS) for b in range(a + 1, NS)]
    idx = rng.permutation(len(allp))[:40]
    return {frozenset(allp[i]) for i in idx}


# ---------------------------------------------------------------------------------------------------------------
# Scene generator
# ---------------------------------------------------------------------------------------------------------------
class Scenes:
    """Renders 32x32 scenes with emoji sprites and writes compositional captions.

    Every render also records what it drew (`self.scene`: background colour and the pasted sprites with their
    integer corners), so that `render_large()` can draw the same scene at 8x; `sample_paired()` returns both. Drawing
    the large one takes nothing from the random generator: the 32x32 scenes and captions of a seed stay the same
    whether or not the large renders are asked for.
    """

    def __init__(self, sprites: np.ndarray, seed: int, exclude_heldout: bool = True):
        self.mix = (0.5, 0.95)  # cumulative shares of single-subject and two-subject scenes (the rest: background)
        self.src = sprites.astype(np.float32) / 255.0  # [NS, 64, 64, 4]
        self.rng = np.random.RandomState(seed)
        self.exclude = exclude_heldout
        self.h_single = heldout_single()
        self.h_pairs = heldout_pairs()
        self._sized = {}

    def sprite(self, i: int, size: int, flip: bool = False) -> np.ndarray:
        """Sprite i resized to size x size (straight alpha), mirrored left-right when flip."""
        key = (i, size, flip)
        if key not in self._sized:
            if flip:
                self._sized[key] = np.ascontiguousarray(self.sprite(i, size)[:, ::-1])
                return self._sized[key]
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
        self.scene = {'background': img[0, 0].copy(), 'sprites': []}  # (subject, size, x0, y0, flip) at 32x32
        return img

    def paste(self, img: np.ndarray, i: int, size: int, cx: float, cy: float, flip: bool = False):
        spr = self.sprite(i, size, flip)
        x0 = int(round(cx - size / 2))
        y0 = int(round(cy - size / 2))
        ys, ye, xs, xe = self._composite(img, spr, x0, y0)
        self.mask[ys:ye, xs:xe] = np.maximum(self.mask[ys:ye, xs:xe], spr[ys - y0:ye - y0, xs - x0:xe - x0, 3])
        self.scene['sprites'].append((i, size, x0, y0, flip))

    @staticmethod
    def _composite(img: np.ndarray, spr: np.ndarray, x0: int, y0: int) -> tuple[int, int, int, int]:
        """Alpha-blends spr (RGBA, straight alpha) onto img with its top-left corner at (x0, y0), clipped to img."""
        h, w = img.shape[:2]
        size = spr.shape[0]
        xs, ys = max(0, x0), max(0, y0)
        xe, ye = min(w, x0 + size), min(h, y0 + size)
        s = spr[ys - y0:ye - y0, xs - x0:xe - x0]
        a = s[..., 3:4]
        img[ys:ye, xs:xe] = img[ys:ye, xs:xe] * (1 - a) + s[..., :3] * a
        return ys, ye, xs, xe

    def render_large(self, scale: int = UPSCALE) -> np.ndarray:
        """The last rendered scene at scale x the size: the same background colour, every sprite resized (Lanczos,
        from the 64 px source) to scale x its size and pasted at scale x its corner."""
        n = RES * scale
        img = np.empty((n, n, 3), np.float32)
        img[:] = self.scene['background']
        for i, size, x0, y0, flip in self.scene['sprites']:
            self._composite(img, self.sprite(i, size * scale, flip), x0 * scale, y0 * scale)
        return img

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

    def sample_paired(self, scale: int = UPSCALE):
        """Like sample(), with the same scene drawn at scale x: (small HxWx3, large in [0,1], caption, labels)."""
        img, cap, labels = self.sample()
        return img, self.render_large(scale), cap, labels

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
            cap = pair_caption(r, SUBJECT_NAMES[a], SUBJECT_NAMES[b])
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

