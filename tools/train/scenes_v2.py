"""The v2 scene generator: everything v1 draws (scenes.py) plus accessories, scenes beyond flat colours and counts,
captioned in English and in Chinese.

- Accessories on the subjects that have a head (cat, dog, frog, pig, penguin, ghost, robot, snowman): a top hat,
  sunglasses, a crown, a scarf (Noto Emoji sprites) and a space suit (a procedural helmet bubble and suit, since
  Noto has no suit without a person in it).
- Scenes: Mars, the Moon, starry space, a beach, snow, a forest, the sea, drawn procedurally at any resolution
  (the 32x32 training picture and the 256x256 one come from the same parameters).
- Counts: "two cats" (left and right), "three apples" (left, centre, right), the places of v1's slot field.
- Captions in English and Chinese with natural variants (measure words, "wearing"/"with"/"in", 穿着/戴着/围着,
  word orders, verbs such as walking/散步 that the picture ignores).

A scene records what it drew (`self.labels`) and where each named word is in the caption (character spans), so that
train.py can tell the slot field which token names the thing at each place in either language.
Held out from training in both languages: v1's (subject, colour) pairs and subject pairs, and 24 (subject,
accessory, scene) triples (`heldout_triples`).
"""
from __future__ import annotations

import numpy as np

from constants import RES
from scenes import COLOURS, NC, NS, SUBJECT_NAMES, Scenes, article, heldout_pairs, heldout_single, pair_caption

# ---------------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------------
# Chinese name and measure word of each subject (same order as scenes.SUBJECTS)
SUBJECT_ZH = [
    ('猫', '只'), ('狗', '只'), ('青蛙', '只'), ('猪', '头'), ('鱼', '条'), ('企鹅', '只'), ('苹果', '个'),
    ('香蕉', '根'), ('披萨', '块'), ('胡萝卜', '根'), ('葡萄', '串'), ('火箭', '枚'), ('汽车', '辆'), ('房子', '座'),
    ('树', '棵'), ('向日葵', '朵'), ('星星', '颗'), ('爱心', '颗'), ('月亮', '个'), ('幽灵', '个'),
    ('机器人', '个'), ('蘑菇', '个'), ('仙人掌', '棵'), ('雪人', '个'),
]
PLURALS = {'fish': 'fish', 'grapes': 'grapes', 'cactus': 'cacti', 'snowman': 'snowmen', 'house': 'houses'}
COLOUR_ZH = ['红色', '橙色', '黄色', '绿色', '蓝色', '紫色', '粉色', '白色', '黑色', '灰色']

# subjects with a head, which can wear things
WEARERS = [SUBJECT_NAMES.index(n) for n in ('cat', 'dog', 'frog', 'pig', 'penguin', 'ghost', 'robot', 'snowman')]

# accessory: English phrases (after the subject), Chinese verb + object (before the subject: 戴着帽子的猫)
ACCESSORIES = [
    ('hat', ['wearing a hat', 'with a hat', 'in a hat', 'wearing a top hat'], [('戴着', '帽子'), ('戴着', '礼帽')]),
    ('sunglasses', ['wearing sunglasses', 'with sunglasses', 'in sunglasses'], [('戴着', '墨镜'), ('戴着', '太阳镜')]),
    ('crown', ['wearing a crown', 'with a crown'], [('戴着', '皇冠'), ('戴着', '王冠')]),
    ('scarf', ['wearing a scarf', 'with a scarf'], [('围着', '围巾'), ('戴着', '围巾')]),
    ('space suit', ['in a space suit', 'wearing a space suit', 'in a spacesuit', 'with a space helmet'],
     [('穿着', '宇航服'), ('穿着', '太空服')]),
]
ACCESSORY_NAMES = [a for a, _, _ in ACCESSORIES]
NA = len(ACCESSORIES)
ACCESSORY_SPRITES = ['1f3a9.png', '1f576-fe0f.png', '1f451.png', '1f9e3.png']  # hat, sunglasses, crown, scarf

# scenes beyond flat colours: English phrases, Chinese place phrases (在X上 / X上的)
SCENES = [
    ('mars', ['on mars', 'on the planet mars'], ['火星']),
    ('moon', ['on the moon'], ['月球']),
    ('space', ['in space', 'in outer space', 'among the stars'], ['太空']),
    ('beach', ['on a beach', 'on the beach', 'at the beach'], ['海滩', '沙滩']),
    ('snow', ['in the snow', 'on snow'], ['雪地']),
    ('forest', ['in a forest', 'in the forest', 'in the woods'], ['森林', '树林']),
    ('sea', ['in the sea', 'at sea', 'on the ocean'], ['大海', '海']),
]
SCENE_NAMES = [s for s, _, _ in SCENES]
NSC = len(SCENES)
# Chinese place phrase around the scene word: (before, after) for 在…上 / 在…里 / 在…中
SCENE_ZH_FRAME = {'mars': ('在', '上'), 'moon': ('在', '上'), 'space': ('在', '中'), 'beach': ('在', '上'),
                  'snow': ('在', '里'), 'forest': ('在', '里'), 'sea': ('在', '里')}
# verbs the picture ignores (the primer's "walking"): they are known words so that they are not reported as unknown
VERBS = [('walking', '散步'), ('standing', '站着'), ('sitting', '坐着'), ('flying', '飞翔'), ('running', '奔跑'),
         ('playing', '玩耍')]
COUNT_WORDS = [(2, 'two', '两'), (3, 'three', '三')]

# backgrounds: 0..NC-1 flat colours, NC.. the scenes
NB = NC + NSC


def background_name(b: int) -> str:
    return COLOURS[b][0] if b < NC else SCENE_NAMES[b - NC]


def plural(s: int) -> str:
    n = SUBJECT_NAMES[s]
    return PLURALS.get(n, n + 's')


def heldout_triples() -> set[tuple[int, int, int]]:
    """(subject, accessory, background) triples never captioned in training; the evaluation draws them. Backgrounds
    are scenes (NC..NB-1). Every wearer gets three, each accessory and scene appears several times."""
    out = set()
    for k, s in enumerate(WEARERS):
        for j in range(3):
            a = (k + 2 * j) % NA
            b = NC + (3 * k + j * 2 + 1) % NSC
            out.add((s, a, b))
    assert len(out) == 24, len(out)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Procedural sprites and backgrounds (resolution independent)
# ---------------------------------------------------------------------------------------------------------------
def _grid(n: int):
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    return np.meshgrid(c, c, indexing='xy')  # x, y in (0, 1)


def space_suit_sprites(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(suit, helmet) RGBA in [0, 255], n x n: a white suit body with a grey collar and a chest panel (drawn behind
    the subject) and a glass helmet bubble with a white rim and a highlight (drawn over it)."""
    x, y = _grid(n)
    suit = np.zeros((n, n, 4), np.float32)
    body = (((x - 0.5) / 0.42) ** 2 + ((y - 0.78) / 0.3) ** 2) <= 1
    suit[body] = (236, 238, 242, 255)
    collar = body & (np.abs(y - 0.5) < 0.06)
    suit[collar] = (150, 155, 165, 255)
    panel = (np.abs(x - 0.5) < 0.12) & (np.abs(y - 0.74) < 0.07)
    suit[panel] = (210, 60, 50, 255)
    helmet = np.zeros((n, n, 4), np.float32)
    r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
    glass = r < 0.455
    helmet[glass] = (170, 215, 255, 70)
    rim = (r >= 0.43) & (r < 0.5)
    helmet[rim] = (245, 247, 250, 255)
    shine = (((x - 0.33) / 0.08) ** 2 + ((y - 0.27) / 0.05) ** 2) <= 1
    helmet[shine] = (255, 255, 255, 200)
    return suit.round().astype(np.uint8), helmet.round().astype(np.uint8)


def draw_background(kind: int, p: dict, n: int) -> np.ndarray:
    """Scene `kind` (index into SCENES) with parameters p (drawn once per scene) at n x n, RGB in [0, 1]."""
    x, y = _grid(n)
    img = np.empty((n, n, 3), np.float32)
    name = SCENE_NAMES[kind]
    hz = p['horizon']
    j = p['jitter']

    def col(rgb):
        return np.clip(np.array(rgb, np.float32) + j, 0, 255) / 255.0

    def dots(mask_region, colour, radius):
        for sx, sy in p['stars']:
            m = ((x - sx) ** 2 + (y - sy) ** 2) < radius ** 2
            if mask_region is not None:
                m &= mask_region
            img[m] = colour

    r_dot = max(0.5 / n, 0.016)  # one pixel at 32, a small disc at 256
    if name == 'mars':
        img[:] = col((232, 168, 120))
        ground = y > hz
        img[ground] = col((196, 88, 48))
        for cx, cy, rr in p['craters']:
            m = ground & (((x - cx) / rr) ** 2 + ((y - cy) / (rr * 0.45)) ** 2 < 1)
            img[m] = col((150, 62, 36))
    elif name == 'moon':
        img[:] = col((12, 12, 28))
        dots(y < hz, (1.0, 1.0, 0.95), r_dot)
        ground = y > hz
        img[ground] = col((172, 172, 176))
        for cx, cy, rr in p['craters']:
            m = ground & (((x - cx) / rr) ** 2 + ((y - cy) / (rr * 0.45)) ** 2 < 1)
            img[m] = col((120, 120, 128))
    elif name == 'space':
        img[:] = (col((22, 14, 62)) * (1 - 0.5 * y[..., None]) + col((8, 6, 24)) * 0.5 * y[..., None])
        dots(None, (1.0, 1.0, 0.92), r_dot)
    elif name == 'beach':
        img[:] = col((140, 204, 244))
        sea_top, sand_top = hz - 0.18, hz
        img[(y > sea_top) & (y <= sand_top)] = col((38, 120, 206))
        img[y > sand_top + 0.02 * np.sin(x * 12 + p['phase'])] = col((238, 212, 150))
    elif name == 'snow':
        img[:] = col((186, 212, 236))
        img[y > hz + 0.04 * np.sin(x * 5 + p['phase'])] = col((250, 250, 252))
        dots(y < hz, (1.0, 1.0, 1.0), r_dot)
    elif name == 'forest':
        img[:] = col((150, 208, 236))
        img[y > hz - 0.2] = col((40, 112, 52))
        for tx in p['trees']:  # dark triangular firs along the horizon
            m = (y > hz - 0.42) & (y < hz) & (np.abs(x - tx) < (y - (hz - 0.42)) * 0.35)
            img[m] = col((18, 74, 34))
        img[y > hz] = col((46, 128, 58))
    elif name == 'sea':
        img[:] = col((172, 216, 246))
        water = y > hz - 0.3
        img[water] = col((28, 88, 178))
        waves = water & (np.sin(y * 60 + np.sin(x * 9 + p['phase']) * 2.5) > 0.75)
        img[waves] = col((78, 146, 222))
    return img


# ---------------------------------------------------------------------------------------------------------------
# Scene generator
# ---------------------------------------------------------------------------------------------------------------
class ScenesV2(Scenes):
    """sprites: [NS + 4 + 2, 64, 64, 4]: the 24 subjects, then hat, sunglasses, crown, scarf (Noto), then the
    procedural suit and helmet."""

    SUIT, HELMET = NS + 4, NS + 5

    def __init__(self, sprites: np.ndarray, seed: int, exclude_heldout: bool = True, zh_share: float = 0.5):
        super().__init__(sprites, seed, exclude_heldout)
        self.h_triples = heldout_triples()
        self.zh_share = zh_share
        # kind shares: single subject, pair, count, background only
        self.shares = (0.58, 0.24, 0.11, 0.07)
        # share of single-subject scenes whose subject is drawn from the wearers, and share of wearers that wear
        # something (train_v2.py raises both at --focus-step)
        self.wearer_share, self.accessory_share = 0.0, 0.6
        # from train_v2.py's --vertical-step: a share of two-subject scenes stacked top/bottom ("a cat above a dog"),
        # and variety (mirrored sprites, wider position and size jitter). Both off by default, so that the data of
        # steps 0-5,100 (and the text table built from the default captions) stay exactly as they were.
        self.vertical_share = 0.0
        self.variety = False
        # from train_v2.py's --primer-step: a share of all scenes is the primer's subject and accessory, a cat in a
        # space suit, on Mars half the time and on any background otherwise (off by default, no random draw)
        self.primer_share = 0.0

    # ------------------------------------------------------------------ drawing
    def background(self, b: int) -> np.ndarray:
        if b < NC:
            img = super().background(b)
            self.scene['kind'] = ('colour', b)
            return img
        self.mask = np.zeros((RES, RES), np.float32)
        r = self.rng
        p = dict(horizon=float(r.uniform(0.55, 0.7)), jitter=r.uniform(-8, 8, 3).astype(np.float32),
                 stars=[(float(r.rand()), float(r.rand())) for _ in range(r.randint(6, 14))],
                 craters=[(float(r.rand()), float(r.uniform(0.72, 0.97)), float(r.uniform(0.06, 0.13)))
                          for _ in range(r.randint(2, 4))],
                 trees=[float(v) for v in np.sort(r.uniform(0, 1, r.randint(4, 8)))], phase=float(r.uniform(0, 6.3)))
        img = draw_background(b - NC, p, RES)
        self.scene = {'background': img[0, 0].copy(), 'sprites': [], 'kind': ('scene', b - NC, p)}
        return img

    def render_large(self, scale: int = 8) -> np.ndarray:
        kind = self.scene.get('kind', ('colour',))
        if kind[0] == 'colour':
            return super().render_large(scale)
        img = draw_background(kind[1], kind[2], RES * scale)
        for i, size, x0, y0, flip in self.scene['sprites']:
            self._composite(img, self.sprite(i, size * scale, flip), x0 * scale, y0 * scale)
        return img

    def _flip(self) -> bool:
        """Mirror the next figure? Only with variety on (no random draw otherwise)."""
        return bool(self.variety and self.rng.rand() < 0.5)

    def render_wearer(self, s: int, b: int, acc: int | None) -> np.ndarray:
        """One subject, centred (a little lower when it wears something on its head), with an accessory. With
        variety on, the figure may be mirrored and moves and scales over a wider range (the same prompt, different
        pictures)."""
        r = self.rng
        img = self.background(b)
        flip = self._flip()
        if acc is None:
            size = r.randint(14, 28) if self.variety else r.randint(18, 27)
            j = 5 if self.variety else 3
            cx, cy = 16 + r.uniform(-j, j), 16 + r.uniform(-j, j)
            self.paste(img, s, size, cx, cy, flip)
            return img
        name = ACCESSORY_NAMES[acc]
        size = r.randint(14, 22) if self.variety else r.randint(16, 21)
        j, jy = (5, 2.5) if self.variety else (3, 1.5)
        cx = 16 + r.uniform(-j, j)
        cy = 16 + r.uniform(-jy, jy) + (3 if name in ('hat', 'crown') else 0) - (2 if name == 'space suit' else 0)
        if name == 'space suit':
            self.paste(img, self.SUIT, int(round(size * 1.5)), cx, cy + size * 0.55, flip)
            self.paste(img, s, size, cx, cy, flip)
            self.paste(img, self.HELMET, int(round(size * 1.3)), cx, cy, flip)
            return img
        self.paste(img, s, size, cx, cy, flip)
        k = NS + acc
        if name == 'hat':
            self.paste(img, k, int(round(size * 0.68)), cx, cy - size * 0.52, flip)
        elif name == 'crown':
            self.paste(img, k, int(round(size * 0.56)), cx, cy - size * 0.5, flip)
        elif name == 'sunglasses':
            self.paste(img, k, int(round(size * 0.72)), cx, cy - size * 0.04, flip)
        elif name == 'scarf':
            self.paste(img, k, int(round(size * 0.6)), cx, cy + size * 0.42, flip)
        return img

    def render_count(self, s: int, n: int, b: int) -> np.ndarray:
        r = self.rng
        img = self.background(b)
        xs = (8.5, 23.5) if n == 2 else (5.5, 16, 26.5)
        for cx in xs:
            size = r.randint(12, 16) if n == 2 else r.randint(9, 12)
            self.paste(img, s, size, cx + r.uniform(-1.5, 1.5), 16 + r.uniform(-4, 4), self._flip())
        return img

    def render_pair(self, a: int, b: int, c: int) -> np.ndarray:
        """v1's left/right pair; with variety on, each figure may be mirrored."""
        if not self.variety:
            return super().render_pair(a, b, c)
        r = self.rng
        img = self.background(c)
        sa, sb = r.randint(12, 16), r.randint(12, 16)
        self.paste(img, a, sa, r.uniform(7, 10), 16 + r.uniform(-5, 5), self._flip())
        self.paste(img, b, sb, r.uniform(22, 25), 16 + r.uniform(-5, 5), self._flip())
        return img

    def render_vertical(self, top: int, bottom: int, c: int) -> np.ndarray:
        """Two subjects stacked: `top` in the upper half, `bottom` in the lower half (the slot field's top and bottom
        places), each anywhere across the width."""
        r = self.rng
        img = self.background(c)
        st, sb = r.randint(12, 16), r.randint(12, 16)
        self.paste(img, top, st, 16 + r.uniform(-5, 5), r.uniform(7, 10), self._flip())
        self.paste(img, bottom, sb, 16 + r.uniform(-5, 5), r.uniform(22, 25), self._flip())
        return img

    # ------------------------------------------------------------------ captions
    def _pick(self, options):
        return options[self.rng.randint(len(options))]

    def _bg_en(self, b: int) -> str | None:
        """English phrase for the background, or None when the caption leaves it out."""
        if b < NC:
            return f'on a {self.colour_word(b)} background'
        return self._pick(SCENES[b - NC][1])

    def sample(self):
        """Returns (image HxWx3 in [0,1], caption, labels). labels['spans'] maps the places of the slot field
        ('left', 'right', 'centre', and 'top', 'bottom' with vertical_share on) to the (start, end) character span of the word naming what is there."""
        r = self.rng
        if self.primer_share and r.rand() < self.primer_share:
            return self._primer(r.rand() < self.zh_share)
        if self.vertical_share and r.rand() < self.vertical_share:
            return self._vertical(r.rand() < self.zh_share)
        u = r.rand()
        zh = r.rand() < self.zh_share
        c0, c1, c2 = np.cumsum(self.shares)[:3]
        if u < c0:
            return self._single(zh)
        if u < c1:
            return self._pair(zh)
        if u < c2:
            return self._count(zh)
        b = self._any_background()
        img = self.background(b)
        if zh:
            cap = self._bg_zh_alone(b)
        else:
            cap = (f'a {self.colour_word(b)} background' if r.rand() < 0.5 else f'{self.colour_word(b)} background') \
                if b < NC else self._pick(SCENES[b - NC][1]).split(' ', 1)[1] if r.rand() < 0.4 else \
                self._pick(SCENES[b - NC][1])
        return img, cap, {'kind': 0, 'background': b, 'spans': {}}

    def _any_background(self) -> int:
        return self.rng.randint(NC) if self.rng.rand() < 0.5 else NC + self.rng.randint(NSC)

    def _bg_zh_alone(self, b: int) -> str:
        if b < NC:
            return self._pick([f'{COLOUR_ZH[b]}背景', f'{COLOUR_ZH[b]}的背景', f'一个{COLOUR_ZH[b]}背景'])
        w = self._pick(SCENES[b - NC][2])
        return self._pick([w, f'{w}上' if SCENE_ZH_FRAME[SCENE_NAMES[b - NC]][1] == '上' else w, f'{w}的风景'])

    def _single(self, zh: bool):
        r = self.rng
        while True:
            if self.wearer_share and r.rand() < self.wearer_share:
                s = WEARERS[r.randint(len(WEARERS))]
            else:
                s = r.randint(NS)
            b = self._any_background()
            acc = None
            if s in WEARERS and r.rand() < self.accessory_share:
                acc = r.randint(NA)
            if not self.exclude:
                break
            if b < NC and (s, b) in self.h_single:
                continue
            if acc is not None and (s, acc, b) in self.h_triples:
                continue
            break
        return self._single_scene(zh, s, b, acc)

    def _single_scene(self, zh: bool, s: int, b: int, acc: int | None):
        img = self.render_wearer(s, b, acc)
        cap, span = (self._single_zh if zh else self._single_en)(s, b, acc)
        return img, cap, {'kind': 1, 'subject': s, 'background': b, 'accessory': acc, 'spans': {'centre': span}}

    def _primer(self, zh: bool):
        """The primer's subject and accessory, a cat in a space suit, on Mars or (half the time) on any other
        background that is not held out; captions as for any single subject ("a cat in a space suit walking on
        mars", 一只穿着宇航服的猫在火星上散步 and their variants)."""
        s, acc, mars = SUBJECT_NAMES.index('cat'), ACCESSORY_NAMES.index('space suit'), NC + SCENE_NAMES.index('mars')
        while True:
            b = mars if self.rng.rand() < 0.5 else self._any_background()
            if not (self.exclude and (s, acc, b) in self.h_triples):
                return self._single_scene(zh, s, b, acc)

    def _single_en(self, s: int, b: int, acc: int | None):
        r = self.rng
        name = SUBJECT_NAMES[s]
        bg = self._bg_en(b)
        verb = VERBS[r.randint(len(VERBS))][0] if (acc is not None or b >= NC) and r.rand() < 0.3 else None
        acc_p = self._pick(ACCESSORIES[acc][1]) if acc is not None else None
        t = r.rand()
        if t < 0.12 and acc is None:
            lead = name if b < NC else f'{article(name)} {name}'
            cap = f'{lead}, {bg.split(" ", 1)[1] if b < NC and bg.startswith("on a ") else bg}' if r.rand() < 0.5 \
                else lead
            return cap, (cap.index(name), cap.index(name) + len(name))
        if t < 0.2 and b < NC and acc is None:
            cap = f'a {self.colour_word(b)} background with {article(name)} {name}'
            i = cap.rindex(name)
            return cap, (i, i + len(name))
        parts = [f'{article(name)} {name}']
        if acc_p:
            parts.append(acc_p)
        if verb:
            parts.append(verb)
        if r.rand() < 0.85 or b >= NC:
            parts.append(bg)
        cap = ' '.join(parts)
        i = cap.index(name, len(article(name)))
        return cap, (i, i + len(name))

    def _single_zh(self, s: int, b: int, acc: int | None):
        r = self.rng
        name, mw = SUBJECT_ZH[s]
        measure = self._pick([f'一{mw}', f'一{mw}', ''])
        pre = ''
        if acc is not None:
            verb, obj = self._pick(ACCESSORIES[acc][2])
            pre = f'{verb}{obj}的'
        verb = VERBS[r.randint(len(VERBS))][1] if (acc is not None or b >= NC) and r.rand() < 0.35 else ''
        if b < NC:
            col = COLOUR_ZH[b]
            forms = [f'{measure}{pre}{name}在{col}背景上{verb}', f'{col}背景上的{measure}{pre}{name}',
                     f'{measure}{pre}{name}，{col}背景', f'{measure}{pre}{name}']
        else:
            w = self._pick(SCENES[b - NC][2])
            before, after = SCENE_ZH_FRAME[SCENE_NAMES[b - NC]]
            forms = [f'{measure}{pre}{name}{before}{w}{after}{verb}', f'{w}{after}的{measure}{pre}{name}',
                     f'{measure}{pre}{name}{before}{w}{after}', f'{measure}{pre}{name}，{w}']
        cap = forms[r.randint(len(forms))]
        i = cap.index(name, cap.index(pre) + len(pre) if pre else 0) if pre else self._name_at(cap, name, measure)
        return cap, (i, i + len(name))

    @staticmethod
    def _name_at(cap: str, name: str, measure: str) -> int:
        """Where the subject's name is in a Chinese caption: after the measure word when there is one (雪人 must not
        match inside 雪地; 星星 inside 火星 cannot happen since the name follows the measure word or starts)."""
        if measure:
            return cap.index(measure + name) + len(measure)
        # no measure word: the name starts the caption, or follows 的 / 上的
        for k in range(len(cap)):
            if cap.startswith(name, k) and (k == 0 or cap[k - 1] in '的，'):
                return k
        raise ValueError(f'{name} not found in {cap}')

    def _two_subjects_and_background(self) -> tuple[int, int, int]:
        """Two different subjects (not a held-out pair) and a background (a flat colour 70 % of the time)."""
        r = self.rng
        while True:
            a, bb = r.randint(NS), r.randint(NS)
            if a != bb and not (self.exclude and frozenset((a, bb)) in self.h_pairs):
                break
        return a, bb, r.randint(NC) if r.rand() < 0.7 else NC + r.randint(NSC)

    def _en_pair_background(self, cap: str, b: int) -> str:
        """The background after a two-subject English caption; flat colours 30 % left out."""
        return cap + ' ' + self._bg_en(b) if b >= NC or self.rng.rand() < 0.7 else cap

    def _pair(self, zh: bool):
        a, bb, b = self._two_subjects_and_background()
        img = self.render_pair(a, bb, b)
        if zh:
            cap, sa, sb = self._pair_zh(a, bb, b)
        else:
            cap, sa, sb = self._pair_en(a, bb, b)
        return img, cap, {'kind': 2, 'left': a, 'right': bb, 'background': b, 'spans': {'left': sa, 'right': sb}}

    def _pair_en(self, a: int, b_: int, b: int):
        r = self.rng
        A, B = SUBJECT_NAMES[a], SUBJECT_NAMES[b_]
        cap = self._en_pair_background(pair_caption(r, A, B), b)
        return cap, _word_span(cap, A), _word_span(cap, B)

    def _zh_two_subjects(self, a: int, b_: int):
        """Caption parts for two subjects in Chinese, with measure words half the time; the names tagged A and B."""
        (A, ma), (B, mb) = SUBJECT_ZH[a], SUBJECT_ZH[b_]
        qa, qb = (f'一{ma}', f'一{mb}') if self.rng.rand() < 0.5 else ('', '')
        return (qa, ('A', A)), (qb, ('B', B))

    def _zh_pair_background(self, b: int) -> list[str]:
        """The background after a two-subject Chinese caption (，蓝色背景 / ，在火星上); flat colours 30 % left out."""
        if not (b >= NC or self.rng.rand() < 0.7):
            return []
        if b < NC:
            return [f'，{COLOUR_ZH[b]}背景']
        w = self._pick(SCENES[b - NC][2])
        before, after = SCENE_ZH_FRAME[SCENE_NAMES[b - NC]]
        return [f'，{before}{w}{after}']

    def _pair_zh(self, a: int, b_: int, b: int):
        A_, B_ = self._zh_two_subjects(a, b_)
        t = self.rng.rand()
        if t < 0.3:
            parts = [*A_, '在', *B_, '的左边']
        elif t < 0.6:
            parts = [*B_, '在', *A_, '的右边']
        elif t < 0.75:
            parts = ['左边是', *A_, '，右边是', *B_]
        elif t < 0.85:
            parts = [*A_, '在', B_[1], '左边']
        else:
            parts = [*A_, '和', *B_]
        parts += self._zh_pair_background(b)
        cap, spans = _join(parts)
        return cap, spans['A'], spans['B']

    def _vertical(self, zh: bool):
        a, bb, b = self._two_subjects_and_background()
        img = self.render_vertical(a, bb, b)
        cap, sa, sb = (self._vertical_zh if zh else self._vertical_en)(a, bb, b)
        return img, cap, {'kind': 4, 'top': a, 'bottom': bb, 'background': b, 'spans': {'top': sa, 'bottom': sb}}

    def _vertical_en(self, a: int, b_: int, b: int):
        r = self.rng
        A, B = SUBJECT_NAMES[a], SUBJECT_NAMES[b_]
        An, Bn = f'{article(A)} {A}', f'{article(B)} {B}'
        t = r.rand()
        if t < 0.3:
            cap = f'{An} above {Bn}'
        elif t < 0.55:
            cap = f'{Bn} below {An}'
        elif t < 0.7:
            cap = f'{An} over {Bn}'
        elif t < 0.85:
            cap = f'{Bn} under {An}'
        else:
            cap = f'{An} at the top and {Bn} at the bottom'
        cap = self._en_pair_background(cap, b)
        return cap, _word_span(cap, A), _word_span(cap, B)

    def _vertical_zh(self, a: int, b_: int, b: int):
        A_, B_ = self._zh_two_subjects(a, b_)
        t = self.rng.rand()
        if t < 0.3:
            parts = [*A_, '在', *B_, self._pick(['的上面', '的上方', '上方'])]
        elif t < 0.6:
            parts = [*B_, '在', *A_, self._pick(['的下面', '的下方', '下方'])]
        else:
            parts = ['上面是', *A_, '，下面是', *B_]
        parts += self._zh_pair_background(b)
        cap, spans = _join(parts)
        return cap, spans['A'], spans['B']

    def _count(self, zh: bool):
        r = self.rng
        s = r.randint(NS)
        n, en, zhw = COUNT_WORDS[r.randint(len(COUNT_WORDS))]
        b = r.randint(NC) if r.rand() < 0.7 else NC + r.randint(NSC)
        img = self.render_count(s, n, b)
        if zh:
            name, mw = SUBJECT_ZH[s]
            cap = f'{zhw}{mw}{name}'
            if r.rand() < 0.6:
                if b < NC:
                    cap += f'，{COLOUR_ZH[b]}背景' if r.rand() < 0.5 else ''
                    cap = cap if cap.endswith('背景') else f'{cap}在{COLOUR_ZH[b]}背景上'
                else:
                    before, after = SCENE_ZH_FRAME[SCENE_NAMES[b - NC]]
                    cap += f'{before}{self._pick(SCENES[b - NC][2])}{after}'
            i = len(zhw) + len(mw)
            span = (i, i + len(name))
        else:
            word = plural(s)
            cap = f'{en} {word}'
            if b >= NC or r.rand() < 0.6:
                cap += ' ' + self._bg_en(b)
            span = (len(en) + 1, len(en) + 1 + len(word))
        places = ('left', 'right') if n == 2 else ('left', 'right', 'centre')
        return img, cap, {'kind': 3, 'subject': s, 'count': n, 'background': b, 'spans': {p: span for p in places}}


def _word_span(cap: str, word: str) -> tuple[int, int]:
    """Span of `word` as a whole word (not inside another word) in an English caption."""
    import re
    m = re.search(rf'\b{re.escape(word)}\b', cap)
    assert m, (word, cap)
    return m.span()


def _join(parts) -> tuple[str, dict[str, tuple[int, int]]]:
    """Joins caption parts; a part (tag, text) is recorded as spans[tag] = its character span."""
    cap, spans = '', {}
    for part in parts:
        if isinstance(part, tuple):
            spans[part[0]] = (len(cap), len(cap) + len(part[1]))
            part = part[1]
        cap += part
    return cap, spans


def chinese_vocabulary() -> list[str]:
    """Every Chinese word the captions use (the model's knownWords), longest first within no particular order."""
    words = {n for n, _ in SUBJECT_ZH} | set(COLOUR_ZH) | {'背景', '的', '在', '上', '里', '中', '一', '和', '是',
                                                             '左边', '右边', '风景', '一个'}
    words |= {f'一{m}' for _, m in SUBJECT_ZH} | {m for _, m in SUBJECT_ZH}
    words |= {f'{z}{m}' for _, _, z in COUNT_WORDS for _, m in SUBJECT_ZH} | {z for _, _, z in COUNT_WORDS}
    for _, _, zh in ACCESSORIES:
        for v, o in zh:
            words |= {v, o}
    for _, _, zh in SCENES:
        words |= set(zh)
    words |= {v for _, v in VERBS}
    return sorted(words)


def vertical_vocabulary() -> list[str]:
    """Words of the above/below captions (train_v2.py's --vertical-step) that v2's first 5,100 steps never saw."""
    return sorted({'above', 'below', 'over', 'under', 'top', 'bottom', 'at', 'the', 'and',
                   '上面', '下面', '上方', '下方', '是'})


def english_vocabulary() -> list[str]:
    """English words the v2 captions add to v1's (accessories, scenes, verbs, counts, plurals)."""
    words = set()
    for _, en, _ in ACCESSORIES:
        for p in en:
            words |= set(p.split())
    for _, en, _ in SCENES:
        for p in en:
            words |= set(p.split())
    words |= {v for v, _ in VERBS} | {w for _, w, _ in COUNT_WORDS} | {plural(s) for s in range(NS)}
    return sorted(words)
