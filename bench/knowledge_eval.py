#!/usr/bin/env python
"""Measure knowledge search: recall, MRR and latency on a KB and a set of questions.

    .venv/bin/python bench/knowledge_eval.py KB.jsonl QUESTIONS.jsonl [--synthetic 100000]

KB.jsonl holds entries `{id, title, body, category?, ...}` (the seed_knowledge JSONL format);
QUESTIONS.jsonl holds `{question, gold_ids: [entry ids]}` (a hit is any gold id). The KB is
imported into a throwaway SQLite database (or `--db PATH`, kept for reruns; or, with
`--postgres URL`, a temporary database on that PostgreSQL server) with the same
importer as `seed_knowledge`, and every question goes through the retriever the assistant uses
(`knowledge.search.retrieve_passages`). `--synthetic N` pads the KB to N entries with synthetic
distractors (perturbed copies: text recombined, vectors jittered) to measure latency at scale.
The last line printed is a JSON object with r1, r5, r10, mrr10, p50_ms and p95_ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kb", type=Path)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--db", type=Path, help="SQLite file to use and keep (default: temporary)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on PostgreSQL instead: a temporary database on this server (created, dropped)",
    )
    parser.add_argument("--synthetic", type=int, default=0, help="pad the KB to N entries")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N questions")
    parser.add_argument("--lexical-only", action="store_true", help="disable dense search")
    return parser.parse_args(argv)


def setup_django(database_url: str, *, lexical_only: bool) -> None:
    """Point Django at a throwaway database before anything imports the settings."""
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_ENV_FILE"] = ""
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SECRET_KEY", "knowledge-eval-only")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["KNOWLEDGE_DENSE_SEARCH"] = "false" if lexical_only else "true"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def import_kb(path: Path) -> float:
    from knowledge import services

    started = time.monotonic()
    result = services.knowledge_import(paths=[path], source="eval", prune=True)
    for error in result.errors:
        print(f"  import error: {error}", file=sys.stderr)
    seconds = time.monotonic() - started
    print(
        f"imported {path.name}: created {result.created}, updated {result.updated}, "
        f"unchanged {result.unchanged}, pruned {result.pruned}, errors {len(result.errors)} "
        f"in {seconds:.1f} s"
    )
    return seconds


def evaluate(questions: list[dict]) -> dict:
    """Run every question through the assistant's retriever; return metrics and latencies."""
    from knowledge.models import KnowledgeBaseEntry
    from knowledge.search import retrieve_passages

    external = dict(KnowledgeBaseEntry.objects.values_list("pk", "external_id"))
    started = time.perf_counter()
    retrieve_passages("warm-up: load the model and build the index", limit=1)
    print(f"warm-up (model load + index build): {(time.perf_counter() - started) * 1000:.0f} ms")
    hits = {1: 0, 5: 0, 10: 0}
    reciprocal = 0.0
    latencies = []
    for question in questions:
        started = time.perf_counter()
        passages = retrieve_passages(question["question"], limit=10)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = [external.get(int(p.id)) for p in passages]
        rank = next((i for i, eid in enumerate(ranked) if eid in set(question["gold_ids"])), None)
        if rank is not None:
            reciprocal += 1 / (rank + 1)
            for k in hits:
                hits[k] += rank < k
    n = max(1, len(questions))
    return {
        "r1": round(hits[1] / n, 4),
        "r5": round(hits[5] / n, 4),
        "r10": round(hits[10] / n, 4),
        "mrr10": round(reciprocal / n, 4),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
    }


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else 0.0


def main(argv=None) -> int:
    args = parse_args(argv)
    kb_path, questions_path = args.kb.resolve(), args.questions.resolve()
    with tempfile.TemporaryDirectory(prefix="knowledge-eval-") as tmp, database(args, tmp) as url:
        setup_django(url, lexical_only=args.lexical_only)
        import_kb(kb_path)
        if args.synthetic:
            from bench.knowledge_synthetic import pad_knowledge_base

            pad_knowledge_base(args.synthetic)
        questions = load_jsonl(questions_path)
        if args.limit:
            questions = questions[: args.limit]
        report(evaluate(questions), len(questions))
    return 0


@contextlib.contextmanager
def database(args, tmp: str):
    """Yield the database URL to use: a SQLite file, or a temporary PostgreSQL database."""
    if not args.postgres:
        yield f"sqlite:///{args.db.resolve() if args.db else Path(tmp) / 'kb.sqlite3'}"
        return
    import psycopg

    server = args.postgres.replace("postgres://", "postgresql://", 1)
    name = f"knowledge_eval_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{args.postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin:  # FORCE: autovacuum may be on it
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(metrics: dict, n_questions: int) -> None:
    from knowledge.search import status

    info = status()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"search: {info['mode']} (lexical: {info['lexical']}), {info['entries']} entries, "
        f"{n_questions} questions, load average {load:.2f}"
    )
    print(
        f"R@1 {metrics['r1']:.3f}  R@5 {metrics['r5']:.3f}  R@10 {metrics['r10']:.3f}  "
        f"MRR@10 {metrics['mrr10']:.4f}"
    )
    print(f"latency p50 {metrics['p50_ms']:.2f} ms  p95 {metrics['p95_ms']:.2f} ms")
    print(json.dumps(metrics))


if __name__ == "__main__":
    sys.exit(main())
