#!/usr/bin/env python
"""Compare ranking recipes on a KB and its questions (how knowledge search was chosen).

    .venv/bin/python bench/knowledge_fusion.py KB.jsonl QUESTIONS.jsonl [--cache FILE.npz]

Uses the production pieces (the MiniLM encoder of knowledge.embeddings, the BM25 index of
knowledge.search.lexical) in memory, without a database, and prints R@1, R@5, R@10 and MRR@10
of each recipe. Embedding the KB's titles and full texts takes a minute or two; `--cache`
keeps them for the next run. Tune on development questions only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["knowledge"], KNOWLEDGE_DENSE_SEARCH=True, KNOWLEDGE_QUERY_THREADS=1
    )
    django.setup()


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def vectors(kb, questions, cache: Path | None):
    if cache and cache.exists():
        data = np.load(cache)
        return data["titles"], data["fulls"], data["questions"]
    from knowledge import embeddings

    model = embeddings.get_model()
    texts = [embeddings.entry_texts(e["title"], e["body"], e.get("keywords", "")) for e in kb]
    titles = embeddings._encode_batch(model, [t for t, _ in texts])
    fulls = embeddings._encode_batch(model, [f for _, f in texts])
    asked = np.stack([embeddings.encode_query(q["question"]) for q in questions])
    if cache:
        np.savez(cache, titles=titles, fulls=fulls, questions=asked)
    return titles, fulls, asked


def metrics(rankings, kb, questions) -> str:
    ids = [e["id"] for e in kb]
    hits = {1: 0, 5: 0, 10: 0}
    reciprocal = 0.0
    for order, question in zip(rankings, questions, strict=True):
        gold = set(question["gold_ids"])
        rank = next((i for i, row in enumerate(order[:10]) if ids[row] in gold), None)
        if rank is not None:
            reciprocal += 1 / (rank + 1)
            for k in hits:
                hits[k] += rank < k
    n = len(questions)
    return (
        f"R@1 {hits[1] / n:.3f}  R@5 {hits[5] / n:.3f}  R@10 {hits[10] / n:.3f}  "
        f"MRR@10 {reciprocal / n:.4f}"
    )


def top(scores: np.ndarray, k: int = 50) -> list[int]:
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def one_per_question(order: list[int], groups: np.ndarray) -> list[int]:
    seen: set[int] = set()
    first, rest = [], []
    for row in order:
        (rest if groups[row] in seen else first).append(row)
        seen.add(int(groups[row]))
    return first + rest


def rrf(*orders: list[int], k: int = 60) -> list[int]:
    score: dict[int, float] = {}
    for order in orders:
        for rank, row in enumerate(order):
            score[row] = score.get(row, 0.0) + 1 / (k + rank + 1)
    return sorted(score, key=lambda row: -score[row])


def group_mean(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    sums = np.bincount(groups, weights=scores)
    counts = np.bincount(groups)
    return (sums / counts)[groups]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kb", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args(argv)
    setup()
    from knowledge.search.lexical import BM25Index

    kb, questions = load(args.kb), load(args.questions)
    titles, fulls, asked = vectors(kb, questions, args.cache)
    bm25 = BM25Index([f"{e['title']}\n{e.get('keywords', '')}\n{e['body']}" for e in kb])
    lexical = [bm25.scores(q["question"]) for q in questions]
    codes: dict[str, int] = {}
    groups = np.array(
        [codes.setdefault(" ".join(e["title"].casefold().split()), len(codes)) for e in kb]
    )
    title_sim, full_sim = asked @ titles.T, asked @ fulls.T
    mixed = 0.3 * title_sim + 0.7 * full_sim
    recipes = {
        "BM25 alone": [top(s) for s in lexical],
        "dense: title": [top(s) for s in title_sim],
        "dense: title+body": [top(s) for s in full_sim],
        "dense: 0.3 title + 0.7 title+body": [top(s) for s in mixed],
        "RRF(k=60): dense title+body, BM25": [
            rrf(top(d, 100), top(s, 100)) for d, s in zip(full_sim, lexical, strict=True)
        ],
        "RRF(k=60): dense mix, BM25": [
            rrf(top(d, 100), top(s, 100)) for d, s in zip(mixed, lexical, strict=True)
        ],
    }
    for w in (0.05, 0.1, 0.2, 0.3):
        recipes[f"dense title+body + {w} BM25"] = [
            top(d + w * s) for d, s in zip(full_sim, lexical, strict=True)
        ]
    recipes["dense mix + 0.1 BM25"] = [
        top(d + 0.1 * s) for d, s in zip(mixed, lexical, strict=True)
    ]
    recipes["dense mix + 0.1 BM25, questions ranked by mean of answers"] = [
        top(group_mean(d + 0.1 * s, groups) + 1e-3 * (d + 0.1 * s))
        for d, s in zip(mixed, lexical, strict=True)
    ]
    recipes["dense title+body, one answer per question first"] = [
        one_per_question(top(d), groups) for d in full_sim
    ]
    recipes["dense mix, one answer per question first"] = [
        one_per_question(top(d), groups) for d in mixed
    ]
    for w in (0.05, 0.1, 0.2):
        recipes[f"dense mix + {w} BM25, one answer per question first"] = [
            one_per_question(top(d + w * s), groups) for d, s in zip(mixed, lexical, strict=True)
        ]
    width = max(map(len, recipes))
    for name, rankings in recipes.items():
        print(f"{name:<{width}}  {metrics(rankings, kb, questions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
