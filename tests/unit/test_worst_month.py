"""docs/operations.md's worst-month table ("What one leaked key can cost") follows from template.yaml's defaults."""

from __future__ import annotations

import re
from typing import Any

from tests.helpers import ROOT
from tools import worst_month


def _section() -> str:
    text = (ROOT / "docs" / "operations.md").read_text()
    found = re.search(re.escape(worst_month.BEGIN) + ".*?" + re.escape(worst_month.END), text, flags=re.S)
    assert found, "docs/operations.md lost its worst-month markers"
    return found.group(0)


def test_the_docs_table_is_the_one_the_defaults_give() -> None:
    # Given docs/operations.md's table and the one computed now from template.yaml's defaults
    written, computed = _section(), worst_month.render()
    # When they are compared / Then they are the same: a changed default or price shows here until
    # `python -m tools.worst_month` is run again
    assert written == computed


def test_the_headline_figures_follow_from_the_template(template: dict[str, Any]) -> None:
    # Given the template's quota, the longest speech job and the keyless stage throttle
    params = template["Parameters"]
    quota = params["MonthlyRequestQuota"]["Default"]
    job_chars = params["TtsJobMaxChars"]["Default"]
    flood = params["StageThrottleRateLimit"]["Default"] * 30 * 86400
    # When the docs' rows are read
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in _section().splitlines()[3:-1]}
    # Then a leaked key's speech jobs on tts-1-hd cost the quota times the longest job, at $30 per 1M characters
    assert rows["`POST /api/tts/jobs/`, `tts-1-hd`"][2] == f"${quota * job_chars * 30 / 1e6:,.2f}"
    # And the keyless flood's line counts a month of refusals at the stage throttle
    assert rows["a keyless flood ([above](#a-keyless-flood))"][1] == f"{flood / 1e6:,.1f} million refusals"


def test_a_changed_default_changes_the_table(monkeypatch: Any) -> None:
    # Given the template's defaults with a request quota ten times smaller
    real = worst_month.defaults()
    monkeypatch.setattr(
        worst_month, "defaults", lambda: {**real, "MonthlyRequestQuota": real["MonthlyRequestQuota"] / 10}
    )
    # When the table is computed again / Then it differs from the docs' (the check would fail)
    assert worst_month.render() != _section()
    assert "$3,000.00" in worst_month.render()
