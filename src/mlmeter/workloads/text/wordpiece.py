"""BERT's uncased WordPiece tokenizer: basic clean-up and splitting, then greedy longest-match sub-words."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text: str) -> list[str]:
    """Drop control characters, space out CJK ideographs, lower-case, strip accents, split off punctuation."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if _is_cjk(cp):
            chars.append(f" {ch} ")
        elif ch.isspace():
            chars.append(" ")
        else:
            chars.append(ch)
    out: list[str] = []
    for word in "".join(chars).lower().split():
        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        piece = ""
        for ch in word:
            if _is_punctuation(ch):
                if piece:
                    out.append(piece)
                out.append(ch)
                piece = ""
            else:
                piece += ch
        if piece:
            out.append(piece)
    return out


class WordPiece:
    """``encode(text, max_len)`` -> (ids, attention mask, token types), with [CLS] … [SEP] and padding."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]

    def pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    ids.append(self.vocab[sub])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids

    def encode(self, text: str, max_len: int) -> np.ndarray:
        """A (3, max_len) int64 array: token ids, attention mask, token type ids (all zero: one segment)."""
        ids = [i for w in basic_tokens(text) for i in self.pieces(w)][: max_len - 2]
        ids = [self.cls, *ids, self.sep]
        out = np.zeros((3, max_len), dtype=np.int64)
        out[0, : len(ids)] = ids
        out[1, : len(ids)] = 1
        return out
