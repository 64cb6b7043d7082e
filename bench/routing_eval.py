#!/usr/bin/env python
"""Measure the intent router: accuracy per universe and intent, the confusion, and latency.

    .venv/bin/python bench/routing_eval.py [knowledge/data/routing_dev.jsonl] [--anonymous]
                                            [--lexical-only] [--db PATH] [--errors]

Each line of the dev set is `{question, universe, intent, kind, page?, split?}` (kind: clear,
ambiguous or out_of_scope; split "holdout" marks questions written after the router was tuned,
never used to tune it). The questions go through `knowledge.routing.route` among the registered
universes open to a signed-in user (`--anonymous`: to an anonymous visitor; a question whose
expected universe is not open is then expected in the default universe, with its intent).
The demo help center is imported into a throwaway SQLite database (or `--db PATH` is used as
it is) so that the router sees the knowledge categories. Latency is measured on the first pass,
with every question embedded afresh (the example vectors are built before it: `build_ms`), and
on a second pass with the question's vector cached (`cached_*`): in a reply, retrieval embeds the
same question right after routing and finds it there, so that is what routing adds.
The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "knowledge" / "data" / "routing_dev.jsonl"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dev_set", type=Path, nargs="?", default=DEV_SET)
    parser.add_argument("--anonymous", action="store_true", help="route as an anonymous visitor")
    parser.add_argument("--lexical-only", action="store_true", help="disable the embedding model")
    parser.add_argument("--db", type=Path, help="an existing SQLite database to read categories")
    parser.add_argument("--errors", action="store_true", help="list every misrouted question")
    return parser.parse_args(argv)


def setup_django(database: Path, *, lexical_only: bool, seed: bool) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_ENV_FILE"] = ""
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SECRET_KEY", "routing-eval-only")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["KNOWLEDGE_DENSE_SEARCH"] = "false" if lexical_only else "true"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    if seed:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        demo = ROOT / "knowledge" / "demo"
        call_command(
            "seed_knowledge", str(demo / "site.yaml"), str(demo / "helpcenter"), verbosity=0
        )


def load_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def open_universes(*, anonymous: bool):
    from chat.reply.universes import universe_list
    from chat.signals import Asker

    asker = None if anonymous else Asker(user_id=1, visitor_key="bench", kind="user")
    return universe_list(asker)


def expected_of(row: dict, open_keys: set[str]) -> tuple[str, str]:
    from chat.reply.universes import DEFAULT_UNIVERSE

    universe = row["universe"] if row["universe"] in open_keys else DEFAULT_UNIVERSE
    return universe, row["intent"]


def run(rows: list[dict], universes) -> tuple[list[dict], float, list[float]]:
    from knowledge import routing

    started = time.perf_counter()
    routing.examples_for(universes)
    build_ms = (time.perf_counter() - started) * 1000
    results, latencies = [], []
    for row in rows:
        started = time.perf_counter()
        found = routing.route(row["question"], page=row.get("page") or {}, universes=universes)
        latencies.append((time.perf_counter() - started) * 1000)
        results.append({**row, "route": found, "ms": latencies[-1]})
    for result in results:  # again: the question's vector is cached, as retrieval will find it
        started = time.perf_counter()
        routing.route(result["question"], page=result.get("page") or {}, universes=universes)
        result["cached_ms"] = (time.perf_counter() - started) * 1000
    return results, build_ms, latencies


def accuracy_by(results: list[dict], key, hit) -> dict[str, tuple[int, int]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for result in results:
        totals[key(result)][0] += hit(result)
        totals[key(result)][1] += 1
    return {label: (right, count) for label, (right, count) in sorted(totals.items())}


def print_table(title: str, table: dict[str, tuple[int, int]]) -> dict[str, float]:
    print(f"\n{title}")
    shares = {}
    for label, (right, count) in table.items():
        shares[label] = round(right / count, 3)
        print(f"  {label:<20} {right:>3}/{count:<3} {right / count:6.1%}")
    return shares


def print_confusion(results: list[dict], field: str) -> dict[str, dict[str, int]]:
    counts = Counter((r[f"expected_{field}"], getattr(r["route"], field)) for r in results)
    labels = sorted({a for a, _ in counts} | {b for _, b in counts})
    width = max(len(label) for label in labels) + 2
    print(f"\nconfusion of {field}s (rows: expected, columns: routed)")
    print(" " * width + "".join(f"{label[:12]:>13}" for label in labels))
    matrix = {}
    for expected in labels:
        row = {routed: counts[(expected, routed)] for routed in labels}
        if any(row.values()):
            matrix[expected] = {k: v for k, v in row.items() if v}
            print(f"{expected:<{width}}" + "".join(f"{row[r]:>13}" for r in labels))
    return matrix


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(share * (len(ordered) - 1))), len(ordered) - 1)]


def report(results, build_ms, latencies, *, args, mode: str) -> dict:
    universe_hit = lambda r: r["route"].universe == r["expected_universe"]  # noqa: E731
    intent_hit = lambda r: r["route"].intent == r["expected_intent"]  # noqa: E731
    print(f"{len(results)} questions, router mode {mode}, anonymous={args.anonymous}")
    per_intent = print_table(
        "intent accuracy (recall) per expected intent",
        accuracy_by(results, lambda r: r["expected_intent"], intent_hit),
    )
    per_universe = print_table(
        "universe accuracy (recall) per expected universe",
        accuracy_by(results, lambda r: r["expected_universe"], universe_hit),
    )
    per_split = print_table(
        "universe accuracy per split (tune: seen while the examples were written; holdout: not)",
        accuracy_by(results, lambda r: r.get("split", "tune"), universe_hit),
    )
    per_kind = print_table(
        "universe accuracy per kind of question",
        accuracy_by(results, lambda r: r["kind"], universe_hit),
    )
    confusion = print_confusion(results, "intent")
    print_confusion(results, "universe")
    methods = Counter(r["route"].method for r in results)
    categories = Counter(r["route"].category or "(all)" for r in results)
    print(f"\nmethods: {dict(methods)}\ncategories: {dict(categories)}")
    summary = {
        "questions": len(results),
        "mode": mode,
        "anonymous": args.anonymous,
        "universe_accuracy": round(sum(map(universe_hit, results)) / len(results), 3),
        "intent_accuracy": round(sum(map(intent_hit, results)) / len(results), 3),
        "per_intent": per_intent,
        "per_universe": per_universe,
        "per_kind": per_kind,
        "per_split": per_split,
        "holdout_intent_accuracy": _share(
            [intent_hit(r) for r in results if r.get("split") == "holdout"]
        ),
        "p50_ms_by_method": {
            method: round(statistics.median(ms), 2) for method, ms in _by_method(results).items()
        },
        "intent_confusion": confusion,
        "methods": dict(methods),
        "build_ms": round(build_ms, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "max_ms": round(max(latencies), 2),
        "cached_p50_ms": round(statistics.median(r["cached_ms"] for r in results), 3),
        "cached_p95_ms": round(percentile([r["cached_ms"] for r in results], 0.95), 3),
    }
    print(
        f"\nuniverse accuracy {summary['universe_accuracy']:.1%}, intent accuracy "
        f"{summary['intent_accuracy']:.1%}; latency p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms (example vectors built in {summary['build_ms']} ms); "
        f"with the question's vector cached: p50 {summary['cached_p50_ms']} ms, "
        f"p95 {summary['cached_p95_ms']} ms"
    )
    return summary


def _share(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 3) if hits else None


def _by_method(results: list[dict]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = defaultdict(list)
    for result in results:
        latencies[result["route"].method].append(result["ms"])
    return dict(latencies)


def print_errors(results: list[dict]) -> None:
    print("\nmisrouted:")
    for r in results:
        found = r["route"]
        if (found.universe, found.intent) != (r["expected_universe"], r["expected_intent"]):
            print(
                f"  {r['question']!r}: expected {r['expected_universe']}/{r['expected_intent']},"
                f" got {found.universe}/{found.intent} ({found.method}, {found.confidence:.2f})"
            )


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        database = args.db or Path(scratch) / "routing-eval.sqlite3"
        setup_django(database, lexical_only=args.lexical_only, seed=args.db is None)
        from knowledge import embeddings

        mode = "embedding" if embeddings.available() else "lexical"
        universes = open_universes(anonymous=args.anonymous)
        open_keys = {u.key for u in universes}
        rows = load_rows(args.dev_set)
        for row in rows:
            row["expected_universe"], row["expected_intent"] = expected_of(row, open_keys)
        results, build_ms, latencies = run(rows, universes)
        summary = report(results, build_ms, latencies, args=args, mode=mode)
        if args.errors:
            print_errors(results)
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
