"""seed_knowledge: JSONL, CSV, Markdown folders and site files; idempotent; --prune; bad rows."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from knowledge import embeddings
from knowledge.models import KnowledgeBaseEntry, NavigationHelp, Service

pytestmark = pytest.mark.django_db


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def seed(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_knowledge", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


ROWS = [
    {"id": "a1", "category": "GitHub", "title": "Strikethrough on GitHub", "body": "Use ~~x~~."},
    {"id": "a2", "category": "Gmail", "title": "Archive all mail", "body": "Select all, archive."},
    {"id": "a3", "category": "Gmail", "title": "Undo send", "body": "Turn it on in Settings."},
]


def test_a_jsonl_import_creates_entries_with_their_vectors(tmp_path):
    out, _ = seed(write_jsonl(tmp_path / "faq.jsonl", ROWS))
    assert "created 3, updated 0, unchanged 0, pruned 0, errors 0" in out
    entry = KnowledgeBaseEntry.objects.get(source="faq", external_id="a2")
    assert (entry.category, entry.title) == ("Gmail", "Archive all mail")
    assert embeddings.from_bytes(entry.embedding) is not None


def test_a_second_import_updates_and_never_duplicates(tmp_path):
    path = write_jsonl(tmp_path / "faq.jsonl", ROWS)
    seed(path)
    assert "created 0, updated 0, unchanged 3" in seed(path)[0]
    write_jsonl(path, [ROWS[0], {**ROWS[1], "body": "Select all, then Archive."}, ROWS[2]])
    assert "created 0, updated 1, unchanged 2" in seed(path)[0]
    assert KnowledgeBaseEntry.objects.count() == 3
    assert KnowledgeBaseEntry.objects.get(external_id="a2").body == "Select all, then Archive."


def test_prune_removes_entries_no_longer_in_the_source_only(tmp_path):
    path = write_jsonl(tmp_path / "faq.jsonl", ROWS)
    seed(path)
    other = write_jsonl(tmp_path / "other.jsonl", [{**ROWS[0], "id": "o1"}])
    seed(other)
    write_jsonl(path, ROWS[:2])
    assert "unchanged 2, pruned 0" in seed(path)[0]  # without --prune nothing goes
    assert "unchanged 2, pruned 1" in seed(path, "--prune")[0]
    assert set(KnowledgeBaseEntry.objects.values_list("external_id", flat=True)) == {
        "a1",
        "a2",
        "o1",
    }


def test_a_malformed_row_is_reported_with_file_and_line_and_the_rest_imports(tmp_path):
    path = write_jsonl(
        tmp_path / "faq.jsonl",
        [ROWS[0], "{not json", {"id": "x", "title": "No body"}, ROWS[1], ["a", "list"]],
    )
    out, err = seed(path, "--prune")
    assert f"{path}:2: invalid JSON" in err
    assert f"{path}:3: missing body" in err
    assert f"{path}:5: expected an object" in err
    assert "created 2, updated 0, unchanged 0, pruned 0, errors 3" in out
    assert "--prune skipped" in out


def test_a_csv_import_reports_bad_rows_by_line(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text(
        "id,category,title,body,keywords\n"
        'c1,Billing,Refunds,"Within 30 days,\nby email.",money\n'
        "c2,Billing,,Missing title,\n"
        "c3,Billing,Invoices,Sent monthly.,invoice\n"
    )
    out, err = seed(path)
    assert f"{path}:4: missing title" in err
    assert "created 2" in out and "errors 1" in out
    assert KnowledgeBaseEntry.objects.get(external_id="c1").body == "Within 30 days,\nby email."


def test_a_markdown_folder_imports_front_matter_and_headings(tmp_path):
    folder = tmp_path / "helpcenter"
    (folder / "billing").mkdir(parents=True)
    (folder / "billing" / "refunds.md").write_text(
        "---\ntitle: Refunds\ncategory: Billing\nkeywords: [money, refund]\nurl: /refunds/\n---\n"
        "Write to us within **30 days**.\n"
    )
    (folder / "hours.md").write_text("# Opening hours\n\nNine to five.\n")
    (folder / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody\n")
    out, err = seed(folder)
    assert "created 2" in out and "errors 1" in err + out
    assert str(folder / "broken.md") in err
    refunds = KnowledgeBaseEntry.objects.get(source="helpcenter", external_id="billing/refunds")
    assert (refunds.title, refunds.keywords, refunds.url) == (
        "Refunds",
        "money, refund",
        "/refunds/",
    )
    hours = KnowledgeBaseEntry.objects.get(external_id="hours")
    assert (hours.title, hours.body) == ("Opening hours", "Nine to five.")


def test_a_site_file_imports_services_and_navigation_help(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        "services:\n"
        "  - {slug: setup, name: Setup, price: 490, duration_minutes: 120, availability: Weekdays}"
        "\n"
        "  - {name: No slug}\n"
        "navigation:\n"
        "  - {pattern: /telemetry/*, title: Telemetry, help: Compare drivers.}\n"
    )
    out, err = seed(site)
    assert f"{site}:3: a service needs slug and name" in err
    service = Service.objects.get(slug="setup")
    assert (service.price_display, service.duration_display) == ("490.00 USD", "2 h")
    assert NavigationHelp.objects.get().url_pattern == "/telemetry/*"
    assert "unchanged 2" in seed(site)[0]


def test_an_unreadable_path_fails_the_command(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        seed(tmp_path / "missing.jsonl")


def test_the_demo_seed_imports_the_help_center_and_services_cleanly():
    demo = next(args for name, args in settings.DEMO_SEED_COMMANDS if "site.yaml" in args[0])
    out, err = seed(*demo)
    assert err == "" and "errors 0" in out
    assert Service.objects.filter(slug="setup-session", price=490).exists()
    entry = KnowledgeBaseEntry.objects.get(source="helpcenter", external_id="setup-session")
    assert entry.service.slug == "setup-session"
    assert KnowledgeBaseEntry.objects.filter(source="helpcenter").count() >= 12


def test_the_stackfaq_copy_matches_the_shared_data_and_keeps_its_attribution():
    args = next(args for name, args in settings.DEMO_SEED_COMMANDS if "stackfaq" in args[0])
    copy = Path(args[0])
    assert (copy.parent / "README.md").read_text().count("CC BY-SA 3.0") >= 1
    assert any(a.startswith("--attribution=") and "CC BY-SA 3.0" in a for a in args)
    shared = Path(settings.BASE_DIR).parent / "shared/data/faq_stackfaq/kb.jsonl"
    if shared.exists():
        assert copy.read_bytes() == shared.read_bytes()
