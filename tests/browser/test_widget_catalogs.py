"""Every string the widget shows is translated: each key the modules use is in every catalog,
and the catalogs hold the same keys with the same {placeholders}."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WIDGET = Path(__file__).resolve().parents[2] / "static" / "chat"
CATALOGS = sorted((WIDGET / "i18n").glob("*.json"))
PATTERNS = [
    r'\bt\(\s*"([^"]+)"',  # t("Send")
    r'\bt\(\s*\[\s*"([^"]+)",\s*"([^"]+)"\s*\]',  # t(["{n} star", "{n} stars"], ...)
    r'\bt\([^()"]*\?\s*"([^"]+)"\s*:\s*"([^"]+)"',  # t(on ? "Unpin" : "Pin")
    r'\b(?:act1|button)\("[^"]*",\s*(?:[^",()]*\?\s*)?"([^"]+)"(?:\s*:\s*"([^"]+)")?',  # buttons
    r'\bbtn\("[^"]*",\s*"([^"]+)"',  # window buttons
    r'"(?:text|aria-label|placeholder)",\s*"([^"]+)"',  # L(node, "placeholder", "Ask…")
    r'\b[a-z]+: "((?:Connecting|Online|Reconnecting|Stopped|Interrupted|Failed)[^"]*)"',
]


def used_keys() -> set[str]:
    source = "\n".join(p.read_text() for p in WIDGET.glob("*.js"))
    keys = set()
    for pattern in PATTERNS:
        for match in re.findall(pattern, source):
            keys.update(k for k in (match if isinstance(match, tuple) else (match,)) if k)
    return keys


def test_the_scan_finds_the_widgets_strings():
    keys = used_keys()
    assert {"Send", "Stop", "Unpin", "Pin", "{n} stars", "Ask a question…", "Online"} <= keys
    assert len(keys) > 90


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda p: p.stem)
def test_every_string_is_in_the_catalog(catalog):
    table = json.loads(catalog.read_text())
    missing = sorted(used_keys() - set(table))
    assert missing == []
    for key, text in table.items():
        assert text.strip(), key
        assert set(re.findall(r"\{\w+\}", key)) == set(re.findall(r"\{\w+\}", text)), key


def test_the_shipped_languages_are_portuguese_and_spanish_beside_english():
    assert [p.stem for p in CATALOGS] == ["es", "pt-BR"]
