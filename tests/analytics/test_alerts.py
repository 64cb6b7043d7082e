"""The alerting rules load in Prometheus and fire when they should (promtool)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from prometheus_client import REGISTRY

from tests.services import missing

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool is not installed (Debian's 'prometheus'; scripts/ensure_promtool.sh)")
    return path


def test_the_rules_pass_promtool_check_rules():
    result = subprocess.run([promtool(), "check", "rules", "alerts.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_the_rules_fire_as_their_unit_tests_expect():
    result = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_use_only_metrics_that_exist():
    import analytics.metrics  # noqa: F401 - registers the metrics

    exposed = {
        sample.name
        for family in REGISTRY.collect()
        if family.name.startswith("concierge_")
        for sample in family.samples
    } | {name for name in REGISTRY._names_to_collectors if name.startswith("concierge_")}
    used = set(re.findall(r"concierge_[a-z_]+", (RULES / "alerts.yml").read_text()))
    assert used and used <= exposed, used - exposed
