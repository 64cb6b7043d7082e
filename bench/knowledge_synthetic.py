"""Pad the knowledge base with synthetic distractors, to measure search latency at scale.

Each synthetic entry is a perturbed copy of a real one: its title gets words from another
entry's title, its body is sentences from three random entries, and its stored vector is the
source vector plus Gaussian noise (renormalised), so the index holds N realistic rows without
spending hours embedding text. They are written straight to the table in batches, with the
current embedding recipe so nothing re-embeds them. Quality numbers on a padded KB are not
meaningful; latency is what this measures.
"""

from __future__ import annotations

import random
import time

import numpy as np

BATCH = 2000
NOISE = 0.04  # per dimension: a padded vector keeps a cosine of about 0.8 with its source


def pad_knowledge_base(total: int, *, seed: int = 7) -> int:
    from knowledge import embeddings, services
    from knowledge.models import KnowledgeBaseEntry

    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    noise = np.random.default_rng(seed)
    real = list(
        KnowledgeBaseEntry.objects.filter(is_active=True).values_list(
            "title", "body", "category", "embedding"
        )
    )
    missing = total - len(real)
    if missing <= 0 or not real:
        return 0
    started = time.monotonic()
    sentences = [s.strip() for _, body, _, _ in real for s in body.split(". ") if s.strip()]
    title_words = [w for title, _, _, _ in real for w in title.split()]
    made = 0
    while made < missing:
        size = min(BATCH, missing - made)
        rows = [_entry(rng, noise, real, sentences, title_words, made + i) for i in range(size)]
        created = KnowledgeBaseEntry.objects.bulk_create(rows, batch_size=500)
        services._update_search_vectors(e.pk for e in created)  # PostgreSQL full-text search
        made += size
    print(
        f"padded the KB with {made} synthetic entries in {time.monotonic() - started:.1f} s "
        f"({embeddings.RECIPE})"
    )
    return made


def _entry(rng, noise, real, sentences, title_words, number):
    from knowledge import embeddings
    from knowledge.models import KnowledgeBaseEntry

    title, _, category, blob = rng.choice(real)
    words = title.split()
    for _ in range(max(1, len(words) // 3)):
        words[rng.randrange(len(words))] = rng.choice(title_words)
    vector = embeddings.from_bytes(blob)
    if vector is not None:
        vector = vector + noise.normal(0, NOISE, vector.shape).astype(np.float32)
        vector = embeddings.to_bytes(vector / np.linalg.norm(vector))
    return KnowledgeBaseEntry(
        source="synthetic",
        external_id=f"syn-{number:07d}",
        category=category,
        title=" ".join(words)[:300],
        body=". ".join(rng.sample(sentences, 3)),
        embedding=vector,
        embedding_model=embeddings.RECIPE if vector is not None else "",
    )
