"""The worst-month table of docs/operations.md ("What one leaked key can cost"), computed from template.yaml's
defaults and the list prices below: `python -m tools.worst_month` writes it, `--check` fails when it is stale.

A budget parameter the template does not have counts as 0 (no limit)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml

from tools.generated import ROOT, write_or_check

if str(ROOT / "layers" / "common") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "common"))  # the layer, as Lambda puts it on the path

from speech_common.settings import Settings
from speech_common.vocabulary import MAX_TTS_TEXT_CHARS

DOC = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- worst-month: begin (python -m tools.worst_month) -->\n", "<!-- worst-month: end -->\n"
MONTH_SECONDS = 30 * 86400
# List prices (us-east-1 for AWS), Dec 2026: check before relying on them.
TTS_HD_PER_CHAR = 30 / 1_000_000
WHISPER_PER_SECOND = 0.006 / 60
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LOG_INGEST_PER_GB = 0.50
ACCESS_LOG_LINE_BYTES = 400
AUTHORIZER_WARM_SECONDS = 0.005
AUTHORIZER_GB = 256 / 1024
# S3 egress to the internet per GB, by tier (GB a month up to which the price applies).
S3_EGRESS_TIERS = ((10_240, 0.09), (51_200, 0.085), (153_600, 0.07), (float("inf"), 0.05))
DOWNLOADER_GB_PER_SECOND = 0.125  # one downloader holding 1 Gbit/s


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as plain values: only the defaults are wanted."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def defaults() -> dict[str, float]:
    parameters: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)[
        "Parameters"
    ]
    return {name: float(p["Default"]) for name, p in parameters.items() if p.get("Type") == "Number"}


def _egress(gigabytes: float) -> float:
    cost, floor = 0.0, 0.0
    for ceiling, price in S3_EGRESS_TIERS:
        cost += max(0.0, min(gigabytes, ceiling) - floor) * price
        floor = ceiling
    return cost


def _limit(*caps: float) -> float:
    """The least of the caps that are set (0 = no limit)."""
    return min((cap for cap in caps if cap), default=float("inf"))


def _money(amount: float) -> str:
    return "no limit" if amount == float("inf") else f"${amount:,.2f}"


def rows() -> list[tuple[str, str, str, str, str]]:
    d, settings = defaults(), Settings()
    quota = d["MonthlyRequestQuota"]
    chars_cap = _limit(d.get("BudgetCharactersPerMonth", 0), d.get("BudgetCharactersPerDay", 0) * 30)
    seconds_cap = _limit(d.get("BudgetAudioSecondsPerMonth", 0), d.get("BudgetAudioSecondsPerDay", 0) * 30)
    budgets = "`BudgetCharactersPerMonth`, `BudgetCharactersPerDay`"
    audio_budgets = "`BudgetAudioSecondsPerMonth`, `BudgetAudioSecondsPerDay`"
    table = []
    for route, chars, moved_by in (
        ("`POST /api/tts/jobs/`, `tts-1-hd`", d["TtsJobMaxChars"], "`TtsJobMaxChars`"),
        (
            "`POST /api/tts/`, `/v1/audio/speech`, `tts-1-hd`",
            MAX_TTS_TEXT_CHARS,
            "the 4,096 characters OpenAI takes",
        ),
    ):
        one = chars * TTS_HD_PER_CHAR
        table.append(
            (
                route,
                f"{chars:,.0f} characters: {_money(one)}",
                _money(quota * one),
                _money(min(quota * chars, chars_cap) * TTS_HD_PER_CHAR),
                f"`MonthlyRequestQuota`, {moved_by}, {budgets}",
            )
        )
    for route, seconds, moved_by in (
        ("`POST /api/stt/jobs/`, `whisper-1`", settings.job_max_audio_seconds, "`JOB_MAX_AUDIO_SECONDS`"),
        (
            "`POST /api/stt/`, `/v1/audio/transcriptions`, `whisper-1`",
            settings.sync_max_audio_seconds,
            "`SYNC_MAX_AUDIO_SECONDS`",
        ),
    ):
        one = seconds * WHISPER_PER_SECOND
        table.append(
            (
                route,
                f"{seconds / 60:,.0f} min of audio: {_money(one)}",
                _money(quota * one),
                _money(min(quota * seconds, seconds_cap) * WHISPER_PER_SECOND),
                f"`MonthlyRequestQuota`, {moved_by}, {audio_budgets}",
            )
        )
    both = chars_cap * TTS_HD_PER_CHAR + seconds_cap * WHISPER_PER_SECOND
    costliest = max(
        d["TtsJobMaxChars"] * TTS_HD_PER_CHAR, settings.job_max_audio_seconds * WHISPER_PER_SECOND
    )
    table.append(
        (
            "one key on any mix of the routes above",
            "",
            _money(quota * costliest),
            _money(min(quota * costliest, both)),
            f"all of the above; with budgets, {budgets}, {audio_budgets} alone",
        )
    )
    linked = min(MONTH_SECONDS, quota * d["AudioLinkSeconds"])
    egress = _money(_egress(linked * DOWNLOADER_GB_PER_SECOND))
    table.append(
        (
            "audio links (S3 egress), per Gbit/s the downloader holds",
            f"a new link every {d['AudioLinkSeconds']:,.0f} s",
            egress,
            egress,
            "`AudioLinkSeconds` × `MonthlyRequestQuota` (once shorter than a month)",
        )
    )
    flood = d["StageThrottleRateLimit"] * MONTH_SECONDS
    flood_cost = flood * (
        LAMBDA_PER_REQUEST
        + AUTHORIZER_GB * AUTHORIZER_WARM_SECONDS * LAMBDA_ARM_PER_GB_SECOND
        + ACCESS_LOG_LINE_BYTES / 1e9 * LOG_INGEST_PER_GB
    )
    table.append(
        (
            "a keyless flood ([above](#a-keyless-flood))",
            f"{flood / 1e6:,.1f} million refusals",
            _money(flood_cost),
            _money(flood_cost),
            "`StageThrottleRateLimit`",
        )
    )
    return table


def render() -> str:
    head = (
        "| what | one request at most | worst month, request quota alone | worst month, with the default budgets "
        "| moved by |\n|---|---|---|---|---|\n"
    )
    return BEGIN + head + "".join(f"| {' | '.join(row)} |\n" for row in rows()) + END


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when docs/operations.md's table is stale"
    )
    args = parser.parse_args()
    text = DOC.read_text()
    current = re.search(re.escape(BEGIN) + ".*?" + re.escape(END), text, flags=re.S)
    if current is None:
        print(f"docs/operations.md has no {BEGIN.strip()} ... {END.strip()} section")
        return 1
    updated = text[: current.start()] + render() + text[current.end() :]
    return write_or_check(DOC, updated, check=args.check, command="python -m tools.worst_month")


if __name__ == "__main__":
    raise SystemExit(main())
