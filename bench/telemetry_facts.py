#!/usr/bin/env python
"""Facts recall of the race context: for how many questions does the prompt hold every fact?

    .venv/bin/python bench/telemetry_facts.py [QUESTIONS.jsonl] [--race FOLDER]

Imports the race (default: the shipped 2023 Bahrain Grand Prix) into a throwaway SQLite
database, builds the race universe's summary and the `telemetry.facts` part for every question
(default: tests/telemetry/facts_dev.jsonl, 40 questions with the facts their answers need), and
counts the questions whose every fact is there within the universe's token budget. Prints each
miss, then a last line of JSON: questions, hits, recall, over_budget, max_tokens, budget, p50_ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "questions", type=Path, nargs="?", default=ROOT / "tests/telemetry/facts_dev.jsonl"
    )
    parser.add_argument("--race", type=Path, default=ROOT / "telemetry/data/f1_2023_bahrain")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        _django(Path(tmp) / "bench.sqlite3")
        from django.core.management import call_command

        from telemetry.evaluation import facts_recall, questions_load
        from telemetry.services import race_import

        call_command("migrate", verbosity=0)
        race_import(path=args.race)
        report = facts_recall(questions_load(args.questions))
    for miss in report.misses:
        print(f"miss {miss['id']}: {miss['question']!r} missing {miss['missing']} "
              f"({miss['tokens']} tokens)")  # fmt: skip
    summary = report.as_dict()
    print(
        f"facts recall: {summary['hits']}/{summary['questions']} within {summary['budget']} "
        f"tokens (largest context {summary['max_tokens']}), p50 {summary['p50_ms']} ms, "
        f"first question {summary['max_ms']} ms (builds the race in memory)"
    )
    print(json.dumps(summary))
    return 0


def _django(db_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_ENV_FILE"] = ""
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()


if __name__ == "__main__":
    sys.exit(main())
