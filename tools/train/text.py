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

