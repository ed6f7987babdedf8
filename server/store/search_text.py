"""How text matches and ranks in full-text search, the same on every backend.

One tokenizer rule, after Convex's (Tantivy's `SimpleTokenizer`, then
`LowerCaser`, then dropping long terms): lowercase the text, split it into
runs of letters and digits (`str.isalnum` characters; everything else
separates), and drop terms longer than 32 characters. A query is tokenized
the same way; its last term matches as a prefix (typeahead: "wor" finds
"world"), the others exactly, and a document matches when any term does.

The backends only *find* candidates: each stores a document's distinct
terms, already tokenized here, and its own text index (SQLite FTS5,
PostgreSQL `tsvector`) looks them up, so neither engine's tokenizer decides
anything. Ranking happens here, in Python, so both backends order the same
candidates the same way: BM25 (k1 = 1.2, b = 0.75, Lucene's idf
`ln(1 + (N - n + 0.5) / (n + 0.5))`) computed over the candidate set itself:
`N` is the number of candidates, `n` how many contain the term, the average
length that of the candidates. A prefix term counts a token it equals once
and a longer token it begins half, so "deploy" ranks a message saying
"deploy" above one saying only "deployment", other things equal.
Equal scores put the newest document first (`_creationTime`, then `_id`),
as Convex does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.store.base import Document

__all__ = [
    "MAX_TERM_LENGTH",
    "QueryTerms",
    "RankKey",
    "rank",
    "ranked",
    "tokenize",
]

MAX_TERM_LENGTH = 32
"""Longer terms are dropped, from documents and queries alike (Convex's rule)."""

_K1 = 1.2
_B = 0.75
_WORD = re.compile(r"[^\W_]+")  # letters and digits: \w without the underscore


def tokenize(text: str) -> list[str]:
    """The terms of `text`, in order, repeats included."""
    return [term for term in _WORD.findall(text.lower()) if len(term) <= MAX_TERM_LENGTH]


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """A search query's distinct exact terms and its prefix term (the last
    one typed), or no terms at all for a query with no words."""

    exact: tuple[str, ...]
    prefix: str | None

    @classmethod
    def parse(cls, text: str) -> QueryTerms:
        terms = tokenize(text)
        if not terms:
            return cls((), None)
        *rest, last = terms
        exact = tuple(dict.fromkeys(term for term in rest if term != last))
        return cls(exact, last)

    @property
    def count(self) -> int:
        return len(self.exact) + (self.prefix is not None)

    @property
    def empty(self) -> bool:
        return self.prefix is None

    def frequencies(self, tokens: Sequence[str]) -> list[float]:
        """How often each term (exact ones, then the prefix) occurs in
        `tokens`; a token the prefix only begins counts half."""
        counts = Counter(tokens)
        found: list[float] = [float(counts.get(term, 0)) for term in self.exact]
        if self.prefix is not None:
            prefix = self.prefix
            found.append(
                sum(
                    n if token == prefix else n / 2
                    for token, n in counts.items()
                    if token.startswith(prefix)
                )
            )
        return found


# Where a result stands in a search's order: (score, creation time, id),
# the results sorted by it from the highest down.
RankKey = tuple[float, float, str]


def rank(candidates: Sequence[Document], texts: Sequence[Any], terms: QueryTerms) -> list[Document]:
    """`candidates` that match `terms` (their search field's value in
    `texts`, in the same order), most relevant first."""
    return [doc for _, doc in ranked(candidates, texts, terms)]


def ranked(
    candidates: Sequence[Document], texts: Sequence[Any], terms: QueryTerms
) -> list[tuple[RankKey, Document]]:
    """`rank`, each result with its `RankKey` (what search cursors hold)."""
    scored: list[tuple[list[float], int, Document]] = []
    for doc, text in zip(candidates, texts, strict=True):
        tokens = tokenize(text) if isinstance(text, str) else []
        frequencies = terms.frequencies(tokens)
        # The engines find candidates; this decides what matches.
        if any(frequencies):
            scored.append((frequencies, len(tokens), doc))
    if not scored:
        return []
    total = len(scored)
    average = sum(length for _, length, _ in scored) / total or 1.0
    containing = [sum(1 for f, _, _ in scored if f[i]) for i in range(terms.count)]
    idf = [math.log(1 + (total - n + 0.5) / (n + 0.5)) for n in containing]

    def score(frequencies: list[float], length: int) -> float:
        norm = _K1 * (1 - _B + _B * length / average)
        return sum(
            weight * tf * (_K1 + 1) / (tf + norm)
            for weight, tf in zip(idf, frequencies, strict=True)
            if tf
        )

    keyed: list[tuple[RankKey, Document]] = [
        ((score(f, length), doc["_creationTime"], doc["_id"]), doc) for f, length, doc in scored
    ]
    keyed.sort(key=lambda item: item[0], reverse=True)
    return keyed
