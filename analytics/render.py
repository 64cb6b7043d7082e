"""The weekly report as text, Markdown, JSON or HTML (the same figures in each)."""

from __future__ import annotations

import json

from django.template.loader import render_to_string

FORMATS = ("text", "markdown", "json", "html")


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _value(value, unit: str = "") -> str:
    return "n/a" if value is None else f"{value}{unit}"


def _lines(report: dict, *, md: bool) -> list[str]:
    h = "## " if md else ""
    item = "- " if md else "  "
    v = report["volumes"]
    lines = [f"{'# ' if md else ''}Concierge weekly report {report['week']} "
             f"({report['start']} to {report['end']}, {report['time_zone']})", ""]  # fmt: skip
    if report["synthetic_conversations"]:
        lines += [f"Includes {report['synthetic_conversations']} synthetic demo conversations.", ""]
    lines.append(f"{h}Volumes (change on the week before)")
    for name in ("conversations", "messages", "replies"):
        lines.append(f"{item}{name}: {v[name]} ({_pct(v['change_pct'][name])}, "
                     f"was {v['previous'][name]})")  # fmt: skip
    r = report["resolution"]
    lines += ["", f"{h}Resolution",
              f"{item}resolved: {r['resolved']} of {r['conversations']} "
              f"({_value(r['rate'], '%')})"]  # fmt: skip
    ratings = report["ratings"]
    dist = ", ".join(f"{s}: {n}" for s, n in ratings["distribution"].items())
    lines += ["", f"{h}Ratings",
              f"{item}{ratings['count']} rated, average {_value(ratings['average'])} ({dist})"]
    e = report["escalations"]
    reasons = ", ".join(f"{k}: {n}" for k, n in e["by_reason"].items()) or "none"
    lines += ["", f"{h}Escalations", f"{item}{e['total']} ({reasons})"]
    lat = report["latency"]
    lines += ["", f"{h}Latency",
              f"{item}time to first token p50 {_value(lat['ttft_p50_ms'], ' ms')}, "
              f"p95 {_value(lat['ttft_p95_ms'], ' ms')}",
              f"{item}total time p50 {_value(lat['total_p50_ms'], ' ms')}, "
              f"p95 {_value(lat['total_p95_ms'], ' ms')}"]  # fmt: skip
    cost = report["cost"]
    lines += ["", f"{h}Cost", f"{item}total {cost['total']:.4f} {cost['currency']}"]
    for row in cost["by_model"]:
        lines.append(f"{item}{row['provider']}/{row['model']}: {row['cost']:.4f} "
                     f"({row['replies']} replies, {row['input_tokens']} in, "
                     f"{row['output_tokens']} out)")  # fmt: skip
    lines += ["", f"{h}Top topics"]
    lines += [f"{item}{t['topic']}: {t['count']}" for t in report["top_topics"]] or [f"{item}none"]
    lines += ["", f"{h}Top knowledge gaps (questions without a grounded answer)"]
    lines += [f"{item}{g['question']} ({g['count']}x{', resolved' if g['resolved'] else ''})"
              for g in report["knowledge_gaps"]] or [f"{item}none"]  # fmt: skip
    lines += ["", f"{h}Worst-rated conversations"]
    lines += [f"{item}{w['rating']}/5 {w['session_id'][:8]} ({w['user_type']}, {w['replies']} "
              f"replies): {w['comment'] or '(no comment)'}"
              for w in report["worst_rated"]] or [f"{item}none"]  # fmt: skip
    return lines


def report_render(report: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, default=str)
    if fmt == "html":
        return render_to_string("analytics/report_email.html", {"report": report})
    if fmt in ("text", "markdown"):
        return "\n".join(_lines(report, md=fmt == "markdown")) + "\n"
    raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
