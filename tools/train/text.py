"""Text side: CLIP's BPE tokenizer (exact for ASCII prompts) and the map from CLIP ids to the rows of imagine-tiny's
small embedding table."""
from __future__ import annotations

import json
import os
import re

import numpy as np

from constants import SEQ, TOKENIZER_DIR
from scenes import COLOUR_NAMES, COLOUR_SYNONYMS, SUBJECT_NAMES

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
# v2: Chinese and the new English words; character offsets of tokens (for slot targets in either language)
# ---------------------------------------------------------------------------------------------------------------
def v2_words() -> list[str]:
    from scenes_v2 import chinese_vocabulary, english_vocabulary
    return english_vocabulary() + chinese_vocabulary()


def caption_ids_v2(tok: ClipTokenizer, n: int = 6000, seed: int = 0) -> list[int]:
    """CLIP ids of n captions of v2's generator: BPE merges across character boundaries (红色背景上的 …), so a
    character's pieces inside a sentence are not all among those of the words alone."""
    from scenes_v2 import ScenesV2
    sc = ScenesV2(np.zeros((30, 64, 64, 4), np.uint8), seed=seed, exclude_heldout=False)
    ids = []
    for _ in range(n):
        ids += tok.encode(sc.sample()[1])
    return ids


def vertical_caption_ids(tok: ClipTokenizer, n: int = 3000, seed: int = 1) -> list[int]:
    """CLIP ids of n captions with the above/below scenes on (train_v2.py's --vertical-step)."""
    from scenes_v2 import ScenesV2
    sc = ScenesV2(np.zeros((30, 64, 64, 4), np.uint8), seed=seed, exclude_heldout=False)
    sc.vertical_share = 0.5
    ids = []
    for _ in range(n):
        ids += tok.encode(sc.sample()[1])
    return ids


def build_index_table_v2(tok: ClipTokenizer, vertical: bool = False) -> tuple[np.ndarray, int, np.ndarray]:
    """v1's table unchanged (its 50 rows keep their ids, so v1's weights carry over), then a row for every CLIP id
    of v2's words and captions: new English words and the byte-level pieces CLIP cuts Chinese characters into (of
    each word and character alone and inside generated sentences). With `vertical`, rows for the above/below words
    and captions follow (v2's rows keep their ids, so the 5,100-step checkpoint carries over). Returns (table, rows,
    han) where han[row] = 1 for rows of non-ASCII pieces (they get the n-gram embedding, TextEncoderV2)."""
    table, row = build_index_table(tok)
    words = v2_words()
    chars = sorted({ch for w in words for ch in w if ord(ch) > 0x7e})
    ids = [i for w in words + chars + ['，'] for i in tok.encode(w)] + caption_ids_v2(tok)
    if vertical:
        from scenes_v2 import vertical_vocabulary
        vw = vertical_vocabulary()
        ids += [i for w in vw + sorted({ch for w in vw for ch in w if ord(ch) > 0x7e}) for i in tok.encode(w)]
        ids += vertical_caption_ids(tok)
    for i in ids:
        if table[i] == ROW_UNK:
            table[i] = row
            row += 1
    inv = {v: k for k, v in tok.encoder.items()}
    han = np.zeros(row, np.float32)
    for cid in np.nonzero(table >= 3)[0]:
        piece = inv[int(cid)].replace('</w>', '')
        if any(ord(ch) > 0x7e for ch in piece):
            han[table[cid]] = 1.0
    return table, row, han


def token_char_ends(tok: ClipTokenizer, text: str) -> list[int]:
    """For an already clean, lower-case caption (single spaces): the character offset just past each token of
    tok.encode(text). CLIP cuts a Chinese character into byte pieces, so a token may end inside a character; a token
    'ends at' the character holding its last byte."""
    assert text == re.sub(r'\s+', ' ', text).strip().lower(), text
    ends = []
    for m in ClipTokenizer.PAT.finditer(text):
        word = m.group()
        byte_to_char = [k for k, ch in enumerate(word) for _ in ch.encode('utf-8')]
        pos = 0
        for piece in tok.bpe(''.join(tok.byte_encoder[b] for b in word.encode('utf-8'))):
            pos += len(piece.replace('</w>', ''))
            ends.append(m.start() + byte_to_char[pos - 1] + 1)
    return ends


# the slot field's places, in the order of its maps: v2's first three, then the two that --vertical-step adds
PLACES = ('left', 'right', 'centre', 'top', 'bottom')


def slot_targets_from_spans(tok: ClipTokenizer, caption: str, spans: dict, places: int = 3) -> list[int]:
    """Index in the 77-token sequence (BOS = 0) of the last token of the word at each of the first `places` PLACES;
    0 = nothing there (or the word was cut off)."""
    if not spans:
        return [0] * places
    ends = token_char_ends(tok, caption.lower())
    out = []
    for place in PLACES[:places]:
        if place not in spans:
            out.append(0)
            continue
        end = spans[place][1]
        k = max(j for j, e in enumerate(ends) if e <= end)
        out.append(k + 1 if k + 1 < SEQ - 1 else 0)
    return out
