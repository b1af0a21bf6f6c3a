#!/usr/bin/env python3
"""Writes the synthetic tokenizer.json files of tests/data/tokenizers/S (one component each) into
<out>/<case>/; synthetic_cases.js then adds the reference's cases.jsonl to each."""
import json
import os
import sys

out = sys.argv[1]
UNK = {"id": 0, "content": "[UNK]", "single_word": False, "lstrip": False, "rstrip": False,
       "normalized": False, "special": True}


def tok(vocab, pre, norm=None, dec=None, added=None):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": norm, "pre_tokenizer": pre, "post_processor": None, "decoder": dec,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}}


small = {"[UNK]": 0, "hello": 1, "world": 2}
words = {"[UNK]": 0}
for w in ["hello</w>", "world</w>", "a", "b", "c", "h", "e", "l", "o", "|", "<pad>", "w", "r", "d",
          "▁hi", "▁there", "hi", "x", "y", "##s", "go", "##ing", "?", ".", "do", "not", "n't", "'s",
          "it"]:
    words[w] = len(words)
ws = {"type": "WhitespaceSplit"}
chars = {"type": "Split", "pattern": {"Regex": "<pad>|."}, "behavior": "Isolated", "invert": False}
cases = {
    "scripts": tok(small, {"type": "UnicodeScripts"}, added=[UNK]),
    "whitespace": tok(small, {"type": "Whitespace"}, added=[UNK]),
    "digits": tok(small, {"type": "Sequence", "pretokenizers": [ws, {"type": "Digits", "individual_digits": False}]}, added=[UNK]),
    "chardelim": tok(small, {"type": "CharDelimiterSplit", "delimiter": "-"}, added=[UNK]),
    "split_merged": tok(small, {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "MergedWithPrevious", "invert": False}, added=[UNK]),
    "split_next": tok(small, {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": False}, added=[UNK]),
    "split_contig": tok(small, {"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "Contiguous", "invert": False}, added=[UNK]),
    "meta_never": tok(small, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": True}, added=[UNK]),
    "nfkd_lower_strip": tok(small, ws, {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "Lowercase"}, {"type": "StripAccents"}, {"type": "Strip", "strip_left": False, "strip_right": True}]}, added=[UNK]),
    "bytelevel_norm": tok(small, ws, {"type": "ByteLevel"}, added=[UNK]),
    "dec_bpe": tok(words, ws, dec={"type": "BPEDecoder", "suffix": "</w>"}, added=[]),
    "dec_ctc": tok(words, chars, dec={"type": "CTC", "pad_token": "<pad>", "word_delimiter_token": "|", "cleanup": True}, added=[]),
    "dec_strip_replace": tok(words, ws, dec={"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"Regex": "▁+"}, "content": "_"}, {"type": "Strip", "content": "_", "start": 1, "stop": 1}]}, added=[]),
    "dec_wordpiece_nocleanup": tok(words, ws, dec={"type": "WordPiece", "prefix": "##", "cleanup": False}, added=[]),
    "dec_wordpiece_cleanup": tok(words, ws, dec={"type": "WordPiece", "prefix": "##", "cleanup": True}, added=[]),
    "dec_metaspace_first": tok(words, ws, dec={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}, added=[]),
    "added_rules": tok(words, ws, norm={"type": "Lowercase"}, added=[
        {"id": 100, "content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
        {"id": 101, "content": "Ab", "single_word": True, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
        {"id": 102, "content": "<sep>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True}]),
}
for name, t in cases.items():
    os.makedirs(f"{out}/{name}", exist_ok=True)
    with open(f"{out}/{name}/tokenizer.json", "w") as f:
        json.dump(t, f, ensure_ascii=False)
    with open(f"{out}/{name}/case.json", "w") as f:
        json.dump({"set": "S", "case": name}, f)
