"""Smart Compose data: tokeniser, vocabulary, prefix → continuation pairs, the by-book split, n-gram
baselines and the shared scoring."""

from __future__ import annotations

import re

import pytest
import torch

from rnnkit.baselines import NGramModel
from rnnkit.data import kjv
from rnnkit.data.compose import (
    BOS,
    EOS,
    PAD,
    UNK,
    ComposeConfig,
    Vocab,
    compose_data,
    detokenize,
    make_pairs,
    pad_batch,
    split_sentences,
    text_data,
    tokenize,
)
from rnnkit.data.compose_eval import NGramRanker, ngram_baselines, score


def test_tokenize_examples():
    assert tokenize("And Adam called his wife's name Eve; (the same is Zoar;) ring-streaked.") == [
        "And", "Adam", "called", "his", "wife's", "name", "Eve", ";",
        "(", "the", "same", "is", "Zoar", ";", ")", "ring-streaked", ".",
    ]  # fmt: skip
    assert tokenize("the Levites' cities, 12 of them") == [
        "the",
        "Levites'",
        "cities",
        ",",
        "12",
        "of",
        "them",
    ]


def test_detokenize_inverts_tokenize_on_the_whole_kjv():
    for v in kjv.load_verses():
        # the source has a few stray spaces ("thyself ?", a double space): compare whitespace-normalised
        expected = re.sub(r"\s+([,.;:?!)])", r"\1", " ".join(v.text.split()))
        assert detokenize(tokenize(v.text)) == expected, v


def test_vocab_cap_order_unknowns_and_json():
    vocab = Vocab.build([["b", "a", "b", "c"], ["b", "a", "d"]], max_size=6)
    assert vocab.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a"]  # by count, ties alphabetical
    assert vocab.encode(["a", "zzz", "b"]) == [5, UNK, 4]
    assert vocab.decode([BOS, 4, 5, EOS, 4]) == ["b", "a"]
    assert vocab.decode([BOS, 4, EOS], keep_special=True) == ["<bos>", "b", "<eos>"]
    again = Vocab.from_json(vocab.to_json())
    assert again.itos == vocab.itos and again.stoi == vocab.stoi
    with pytest.raises(ValueError, match="max_size must be an int >= 5, got 3"):
        Vocab.build([["a"]], max_size=3)
    with pytest.raises(ValueError, match="must start with"):
        Vocab(["a", "b", "c", "d"])


def test_pairs_by_hand():
    verse = [10, 11, 12, 13, 14, 15, 16]
    cfg = ComposeConfig(max_prefix=3, max_continuation=3, cuts_per_verse=10, min_prefix=2)
    pairs = make_pairs([verse, [7, 8]], cfg)  # the 2-token verse has no cut point with a continuation
    assert len(pairs) == 5  # cuts after 2, 3, 4, 5, 6 tokens
    for src, tgt, ctx in zip(pairs.src, pairs.tgt, pairs.context, strict=True):
        c = len(ctx)
        assert ctx == verse[:c] and src == verse[max(0, c - 3) : c]
        words = [t for t in tgt if t != EOS]
        assert words == verse[c : c + 3]
        assert (tgt[-1] == EOS) == (c + 3 >= len(verse))
    assert pairs.tgt[0] == [12, 13, 14] and pairs.tgt[-1] == [16, EOS]
    few = make_pairs([verse], ComposeConfig(cuts_per_verse=2, min_prefix=2))
    assert (
        len(few) == 2 and few.context != make_pairs([verse], ComposeConfig(cuts_per_verse=2, seed=5)).context
    )


def test_train_cuts_per_verse_adds_training_pairs_only():
    base = compose_data(ComposeConfig(max_verses=200, vocab_size=500))
    more = compose_data(ComposeConfig(max_verses=200, vocab_size=500, train_cuts_per_verse=8))
    assert len(more.train) > 2 * len(base.train)  # more cuts of the same training verses
    assert more.train_verses == base.train_verses and more.vocab.itos == base.vocab.itos
    for split in ("val", "test"):  # the scored pairs do not move
        assert getattr(more, split).src == getattr(base, split).src
        assert getattr(more, split).tgt == getattr(base, split).tgt
    with pytest.raises(ValueError, match="train_cuts_per_verse must be None or a positive int, got 0"):
        ComposeConfig(train_cuts_per_verse=0)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="max_continuation must be a positive int, got 0"):
        ComposeConfig(max_continuation=0)
    with pytest.raises(ValueError, match="max_verses must be None or a positive int"):
        ComposeConfig(max_verses=-1)


def test_split_has_no_leakage_and_vocab_comes_from_training_books():
    data = compose_data(ComposeConfig(max_verses=400, vocab_size=800))
    held = set(kjv.split_books()[1])
    verses = kjv.load_verses()
    texts = {
        "train": [tokenize(v.text) for v in verses if v.book not in held][:400],
        "val": [tokenize(v.text) for v in verses if v.book in held and v.chapter % 2 == 0][:400],
        "test": [tokenize(v.text) for v in verses if v.book in held and v.chapter % 2 == 1][:400],
    }
    train_words = {t for toks in texts["train"] for t in toks}
    assert set(data.vocab.itos[4:]) <= train_words  # nothing of the held-out books in the vocabulary
    held_words = {t for toks in texts["val"] + texts["test"] for t in toks}
    val_only = held_words - train_words
    assert val_only and all(data.vocab.encode([w]) == [UNK] for w in val_only)
    assert data.train_verses == [data.vocab.encode(t) for t in texts["train"]]
    for split in ("train", "val", "test"):
        pairs = getattr(data, split)
        own = {tuple(data.vocab.encode(t)) for t in texts[split]}
        for ctx, tgt in list(zip(pairs.context, pairs.tgt, strict=True))[:300]:
            whole = tuple(ctx + [t for t in tgt if t != EOS])
            assert any(v[: len(whole)] == whole for v in own), split  # each pair lies inside its own split
    assert "Joshua" in data.source


def test_user_text_sentences_and_split():
    text = "The cat sat. The dog ran!\nA bird sang? " + " ".join(f"Line {i} ends here." for i in range(30))
    sents = split_sentences(text)
    assert sents[:3] == [["The", "cat", "sat", "."], ["The", "dog", "ran", "!"], ["A", "bird", "sang", "?"]]
    assert len(sents) == 33
    data = text_data(text, ComposeConfig(cuts_per_verse=1), val_frac=0.2)
    assert len(data.train_verses) == 33 - 7 and len(data.val) + len(data.test) == 7
    assert data.vocab.encode(["cat"]) != [UNK]
    with pytest.raises(ValueError, match="at least 3 sentences"):
        text_data("Only one.", val_frac=0.5)
    with pytest.raises(ValueError, match="val_frac must lie strictly between 0 and 1"):
        text_data(text, val_frac=1.0)


def test_pad_batch():
    x, lengths = pad_batch([[5, 6, 7], [8]], prepend=BOS)
    assert x.tolist() == [[BOS, 5, 6, 7], [BOS, 8, PAD, PAD]] and lengths.tolist() == [4, 2]
    assert x.dtype == torch.int64


def test_ngram_ranker_by_hand():
    seqs = [[BOS, 5, 6, 7, EOS], [BOS, 5, 6, 8, EOS], [BOS, 5, 9, EOS], [BOS, UNK, 9, EOS]]
    ranker = NGramRanker(NGramModel(2, 10).fit(seqs))
    assert ranker.top([BOS, 5], 2) == [6, 9]  # 6 twice, 9 once
    assert ranker.top([6], 2) == [7, 8]  # tie broken by id
    # 9 after <unk>, then the unigram ranking fills up: <eos> 4, 5 ×3 (<bos>, <unk> never proposed)
    assert ranker.top([UNK], 3) == [9, EOS, 5]
    assert ranker.top([4], 3) == [EOS, 5, 6]  # unseen context: unigram, 6 and 9 tie (2 each) → lower id
    top, cont = ranker.predict([5])
    assert top == [6, 9, EOS] and cont == [6, 7, EOS]
    tri = NGramRanker(NGramModel(3, 10).fit(seqs))
    assert tri.predict([5, 6])[1] == [7, EOS]  # trigram context (5, 6): 7 ties 8, lower id first


def test_score_by_hand():
    targets = [[4, 5, 6], [7, EOS], [UNK, 5, 6], [8, 9, 10, 11]]
    top_k = [[4, 1, 2], [9, 8, 7], [UNK, 5, 6], [10, 11, 12]]
    conts = [[4, 5, 6], [7, EOS], [UNK, 5, 6], [8, 9, 12]]
    m = score(top_k, conts, targets)
    assert m["top1"] == pytest.approx(1 / 4)  # only the first; <unk> never counts
    assert m["top3"] == pytest.approx(2 / 4)
    assert m["exact3"] == pytest.approx(1 / 3)  # pairs with >= 3 target tokens: first yes, <unk> no, last no
    with pytest.raises(ValueError, match="equal lengths"):
        score(top_k, conts[:2], targets)


def test_ngram_baselines_on_a_slice():
    data = compose_data(ComposeConfig(max_verses=1500, vocab_size=2000))
    res = ngram_baselines(data.train_verses, len(data.vocab), {"val": data.val, "test": data.test}, (1, 2))
    assert set(res) == {"val", "test"} and set(res["val"]) == {"unigram", "bigram"}
    for split in res.values():
        assert split["bigram"]["top1"] > split["unigram"]["top1"] > 0.02
        assert split["bigram"]["top3"] >= split["bigram"]["top1"]
