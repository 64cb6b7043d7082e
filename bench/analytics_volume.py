"""Analytics at volume on PostgreSQL: 1,000,000 messages in 100,000 conversations.

    .venv/bin/python bench/analytics_volume.py [--conversations 100000] [--messages-per 10]
        [--days 90] [--postgres postgres://postgres@127.0.0.1:5432] [--database NAME] [--keep]

Creates a scratch database (dropped at the end unless --keep), loads synthetic conversations with
COPY (analytics/services/volume.py), rebuilds the rollups, then measures:
- the dashboard page (the admin view, rendered in full) for several filters: median of 3 runs;
- the weekly report (figures and text) of the busiest complete week;
- the CSV export of every message and of every conversation: rows per second and the peak
  resident memory while streaming (reset before each export), next to the peak of a 10% export.
Prints the figures, then one line of JSON. Goals: dashboard < 1 s, report < 10 s, export
>= 50,000 rows/s with flat memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages-per", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="concierge_analytics_bench")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    return parser.parse_args()


def _admin_db(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://") + "/postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(statement)


def _peak_reset() -> None:
    with open("/proc/self/clear_refs", "w") as handle:  # resets VmHWM (Linux)
        handle.write("5")


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_dashboard(client, filters: list[dict]) -> dict[str, float]:
    client.get("/admin/analytics/dashboard/")  # warm: templates compiled
    timings = {}
    for params in filters:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            response = client.get("/admin/analytics/dashboard/", params)
            assert response.status_code == 200, response.status_code
            runs.append(time.perf_counter() - started)
        timings[json.dumps(params) if params else "default (30 days)"] = statistics.median(runs)
    return timings


def measure_export(kind: str, filters, limit: int | None = None) -> dict[str, float]:
    from analytics.selectors.export import export_chunks

    before = _rss_mb()
    _peak_reset()
    started = time.perf_counter()
    count = written = 0
    with open(os.devnull, "w") as sink:
        for chunk in export_chunks(kind, filters):
            sink.write(chunk)
            written += len(chunk)
            count += chunk.count("\n")
            if limit and count >= limit:
                break
    elapsed = time.perf_counter() - started
    return {"rows": count - 1, "seconds": round(elapsed, 2),
            "rows_per_s": round((count - 1) / elapsed), "mb": round(written / 2**20, 1),
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(_peak_mb(), 1)}  # fmt: skip


def main() -> None:
    args = _parse()
    os.environ.update({
        "DATABASE_URL": f"{args.postgres}/{args.database}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "KNOWLEDGE_WARM_UP": "false",
        "KNOWLEDGE_DENSE_SEARCH": "false",
        "LOG_LEVEL": "ERROR",
    })  # fmt: skip
    _admin_db(args.postgres, f'DROP DATABASE IF EXISTS "{args.database}"')
    _admin_db(args.postgres, f'CREATE DATABASE "{args.database}"')
    try:
        print(json.dumps(run(args)))
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _admin_db(args.postgres, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


def run(args) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from analytics.render import report_render
    from analytics.selectors.dashboard import Filters
    from analytics.selectors.report import report_build, week_last
    from analytics.services.volume import volume_generate

    setup_test_environment()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    counts = volume_generate(conversations=args.conversations, messages_per=args.messages_per,
                             days=args.days)  # fmt: skip
    load_s = time.perf_counter() - started
    print(f"loaded {counts['messages']:,} messages in {counts['sessions']:,} conversations, "
          f"{counts['reply_facts']:,} reply facts, {counts['rollups']:,} rollup rows in "
          f"{load_s:.0f} s")  # fmt: skip

    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("bench", "b@example.com", "bench-pw")
    client = Client()
    client.force_login(admin)
    today = timezone.localdate()
    dashboard = measure_dashboard(client, [
        {}, {"start": str(today - timedelta(days=args.days)), "end": str(today)},
        {"user_type": "anonymous"}, {"user_type": "user:client", "universe": "general"},
        {"provider": "openai", "model": "gpt-4o-mini"},
        {"start": str(today - timedelta(days=7)), "model": "claude-sonnet-4-5"},
    ])  # fmt: skip
    for name, seconds in dashboard.items():
        print(f"dashboard {name}: {seconds * 1000:.0f} ms")

    started = time.perf_counter()
    week = week_last(today)
    report = report_build(week)
    report_render(report, "text")
    report_s = time.perf_counter() - started
    print(f"weekly report {week.label} ({report['volumes']['messages']:,} messages): "
          f"{report_s:.2f} s")  # fmt: skip

    everything = Filters(start=today - timedelta(days=args.days + 1), end=today)
    tenth = measure_export("messages", everything, limit=counts["messages"] // 10)
    messages = measure_export("messages", everything)
    conversations = measure_export("conversations", everything)
    for name, figures in (("messages (10%)", tenth), ("messages", messages),
                          ("conversations", conversations)):  # fmt: skip
        print(f"export {name}: {figures['rows']:,} rows in {figures['seconds']} s = "
              f"{figures['rows_per_s']:,} rows/s, {figures['mb']} MB of CSV, peak RSS "
              f"{figures['peak_rss_mb']} MB (before {figures['rss_before_mb']} MB)")  # fmt: skip
    return {
        "messages": counts["messages"], "conversations": counts["sessions"],
        "load_s": round(load_s, 1),
        "dashboard_ms": {k: round(v * 1000) for k, v in dashboard.items()},
        "dashboard_max_ms": round(max(dashboard.values()) * 1000),
        "weekly_report_s": round(report_s, 2),
        "export_messages": messages, "export_messages_10pct": tenth,
        "export_conversations": conversations,
    }  # fmt: skip


if __name__ == "__main__":
    main()
