"""Budgets per API key, in the upstream's units: characters of speech and seconds of audio transcribed, per UTC day
and per calendar month (UTC).

An amount is reserved before anything is sent upstream, by one conditional UpdateItem per window (ADD, on condition
that the new total stays within the limit): two requests at once can never take a key past its limit. The day is
reserved first, then the month; a month that refuses gives the day back (a refused request may hold the day's count
up for those few milliseconds: never more than the limit). Work that fails before the upstream was paid gives its
reservation back (`spending`); a cache hit gives it back too. A transcription pays for its speech: once the
voice-activity pass has found it, the reserved seconds that are not speech are given back (`pay_for_speech`).

The usage table (USAGE_TABLE; template: UsageTable): key_id (the API key's id) and window ("day#2025-01-31",
"month#2025-01") -> characters, audio_seconds, ttl (the table deletes a window some weeks after it ends). One item
per key, window "limits", may hold that key's own limits (characters_per_day, characters_per_month,
audio_seconds_per_day, audio_seconds_per_month; a missing one is the deployment's, 0 is none). A job whose upload
could not be measured in time at submission is reserved by the worker, once (an item "reserved#<job id>" remembers
it across retries); what was given back of a job's reservation is remembered the same way ("given_back#<job
id>"), so a rerun gives back only what an earlier run did not.
Without a usage table there are no budgets (the template always makes one).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from speech_common.error_codes import ErrorCode
from speech_common.errors import BudgetExceeded, OperationFailed, SpeechError
from speech_common.observability import logger
from speech_common.parallel import built_once
from speech_common.settings import Settings

type Unit = Literal["characters", "audio_seconds"]
CHARACTERS: Unit = "characters"
AUDIO_SECONDS: Unit = "audio_seconds"
UNITS: tuple[Unit, ...] = (CHARACTERS, AUDIO_SECONDS)
PERIODS = ("day", "month")
LIMITS_WINDOW = "limits"
# A window's counts are kept this long after it ends (to look at), then the table's TTL deletes them.
KEPT_AFTER_WINDOW = timedelta(days=35)
_WORDS = {CHARACTERS: "characters", AUDIO_SECONDS: "seconds of audio"}
# Failures that mean no upstream did (and billed) the work: refused before the call, or refused by the upstream.
# Others (a timeout, an upstream error mid-way, a transcript that did not match) may have been paid, and stay counted.
_UNPAID_FAILURES = frozenset(
    {
        ErrorCode.UPSTREAM_RATE_LIMITED,
        ErrorCode.UPSTREAM_AUTH_FAILED,
        ErrorCode.MODEL_UNAVAILABLE,
        ErrorCode.VOICE_UNAVAILABLE,
        ErrorCode.ENGINE_NOT_CONFIGURED,
        ErrorCode.STORAGE_NOT_CONFIGURED,
        ErrorCode.JOBS_NOT_CONFIGURED,
        ErrorCode.JOBS_UNAVAILABLE,
    }
)


@dataclass(frozen=True)
class Reservation:
    """An amount counted against a key's windows: given back to the same windows, even after they ended."""

    owner: str
    unit: Unit
    amount: int
    day: str  # 2025-01-31
    month: str  # 2025-01

    def as_record(self) -> dict[str, Any]:
        """Kept with a job, for the worker to give back."""
        return asdict(self)

    @staticmethod
    def from_record(record: Mapping[str, Any] | None) -> Reservation | None:
        if not record:
            return None
        return Reservation(
            owner=str(record["owner"]),
            unit=CHARACTERS if record["unit"] == CHARACTERS else AUDIO_SECONDS,
            amount=int(record["amount"]),
            day=str(record["day"]),
            month=str(record["month"]),
        )


@dataclass(frozen=True)
class Window:
    period: str  # "day" or "month"
    name: str  # 2025-01-31 or 2025-01
    resets_at: datetime


@dataclass(frozen=True)
class WindowUsage:
    window: Window
    used: dict[Unit, int]
    limits: dict[Unit, int]  # 0: no limit


def enabled(settings: Settings) -> bool:
    return bool(settings.usage_table)


def windows(now: datetime) -> tuple[Window, Window]:
    """The UTC day and calendar month `now` is in, and when each resets."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return (
        Window("day", midnight.strftime("%Y-%m-%d"), midnight + timedelta(days=1)),
        Window("month", first.strftime("%Y-%m"), next_month),
    )


def amount_of_seconds(seconds: float | None) -> int:
    """Seconds of audio as counted: whole seconds, rounded up."""
    return math.ceil(seconds or 0)


def limits_of(settings: Settings, owner: str) -> dict[str, int]:
    """The key's limits by "<unit>_per_<period>": its own item's, else the deployment's (0: no limit)."""
    limits = {
        "characters_per_day": settings.budget_characters_per_day,
        "characters_per_month": settings.budget_characters_per_month,
        "audio_seconds_per_day": settings.budget_audio_seconds_per_day,
        "audio_seconds_per_month": settings.budget_audio_seconds_per_month,
    }
    item = (
        _client()
        .get_item(TableName=settings.usage_table, Key=_key(owner, LIMITS_WINDOW), ConsistentRead=True)
        .get("Item")
    ) or {}
    for name in limits:
        value = item.get(name, {}).get("N")
        if value is not None:
            limits[name] = max(0, int(float(value)))
    return limits


def reserve(
    settings: Settings, owner: str, unit: Unit, amount: int, *, now: datetime | None = None
) -> Reservation | None:
    """Count `amount` against the key's day and month, or raise BudgetExceeded (429, Retry-After until the window
    that refused resets) counting nothing. None when there are no budgets or nothing to count."""
    if not enabled(settings) or amount <= 0:
        return None
    now = now or datetime.now(UTC)
    day, month = windows(now)
    limits = limits_of(settings, owner)
    reservation = Reservation(owner, unit, amount, day.name, month.name)
    done: list[Window] = []
    for window in (day, month):
        limit = limits[f"{unit}_per_{window.period}"]
        if limit and amount > limit:
            _give_back_windows(settings, reservation, amount, done)
            raise _exceeded(unit, window, limit, now, larger=True)
        if not _add(settings, owner, window, unit, amount, limit):
            _give_back_windows(settings, reservation, amount, done)
            raise _exceeded(unit, window, limit, now, larger=False)
        done.append(window)
    return reservation


def reserve_once(
    settings: Settings, owner: str, unit: Unit, amount: int, *, token: str
) -> Reservation | None:
    """reserve(), once for `token` (a job's id): a retried job finds its reservation and does not count it again."""
    if not enabled(settings) or amount <= 0:
        return None
    marker = _key(owner, f"reserved#{token}")
    item = _client().get_item(TableName=settings.usage_table, Key=marker, ConsistentRead=True).get("Item")
    if item is not None:
        return Reservation(owner, unit, int(item["amount"]["N"]), item["day"]["S"], item["month"]["S"])
    reservation = reserve(settings, owner, unit, amount)
    assert reservation is not None
    expires = windows(datetime.now(UTC))[1].resets_at + KEPT_AFTER_WINDOW
    _client().put_item(
        TableName=settings.usage_table,
        Item={
            **marker,
            "amount": {"N": str(amount)},
            "day": {"S": reservation.day},
            "month": {"S": reservation.month},
            "ttl": {"N": str(int(expires.timestamp()))},
        },
    )
    return reservation


def give_back(settings: Settings, reservation: Reservation | None, *, token: str | None = None) -> None:
    """Uncount a reservation (its upstream work was not paid, or a cache served it)."""
    if reservation is not None:
        give_back_part(settings, reservation, reservation.amount, token=token)


def give_back_part(
    settings: Settings, reservation: Reservation | None, amount: int, *, token: str | None = None
) -> int:
    """Uncount `amount` of a reservation (never more than it, nothing below 0); what was given back.

    With `token` (a job's id) `amount` is what is given back for it in all, however often it runs: a rerun gives back
    only what earlier runs did not. The amount is recorded before the windows are given it, so a run that dies in
    between leaves the key charged a little more, never given back twice."""
    if reservation is None or not enabled(settings):
        return 0
    amount = min(max(amount, 0), reservation.amount)
    if token is not None:
        amount = _not_yet_given_back(settings, reservation, amount, token)
    if amount <= 0:
        return 0
    day = Window("day", reservation.day, datetime.now(UTC))
    month = Window("month", reservation.month, datetime.now(UTC))
    _give_back_windows(settings, reservation, amount, [day, month])
    return amount


def pay_for_speech(
    settings: Settings,
    reservation: Reservation | None,
    speech_seconds: float | None,
    *,
    token: str | None = None,
) -> int:
    """Keep counted only the seconds of speech (the voice-activity pass's) of a recording's reservation: the rest is
    given back (silence costs nothing). `speech_seconds` None (not measured): all stays counted. DynamoDB failing
    here leaves the whole recording counted: the transcript, already paid upstream, is still answered."""
    from botocore.exceptions import BotoCoreError, ClientError

    if reservation is None or speech_seconds is None:
        return 0
    unheard = reservation.amount - amount_of_seconds(speech_seconds)
    try:
        return give_back_part(settings, reservation, unheard, token=token)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("the silence's seconds were not given back", extra={"error_type": type(exc).__name__})
        return 0


def unpaid(error: BaseException) -> bool:
    """Whether a failure left the upstream unpaid: a refusal before the call, or the upstream's refusal."""
    if isinstance(error, BudgetExceeded):
        return False  # nothing was reserved by it
    if isinstance(error, OperationFailed):
        return error.code in _UNPAID_FAILURES
    return isinstance(error, SpeechError)


@contextmanager
def spending(settings: Settings, owner: str, unit: Unit, amount: int) -> Iterator[Reservation | None]:
    """Reserve `amount` (BudgetExceeded when past a budget) for the work in the block, given back when the block
    fails before the upstream was paid."""
    reservation = reserve(settings, owner, unit, amount)
    with given_back_when_unpaid(settings, reservation):
        yield reservation


@contextmanager
def given_back_when_unpaid(
    settings: Settings, reservation: Reservation | None, *, token: str | None = None
) -> Iterator[None]:
    try:
        yield
    except BaseException as error:
        if unpaid(error):
            give_back(settings, reservation, token=token)
        raise


def usage_of(
    settings: Settings, owner: str, *, now: datetime | None = None
) -> tuple[WindowUsage, WindowUsage]:
    """The key's counts and limits for the current day and month."""
    if not enabled(settings):
        raise OperationFailed("Budgets are not configured", code=ErrorCode.BUDGETS_NOT_CONFIGURED)
    day, month = windows(now or datetime.now(UTC))
    limits = limits_of(settings, owner)
    answers = []
    for window in (day, month):
        item = (
            _client()
            .get_item(
                TableName=settings.usage_table, Key=_key(owner, _window_key(window)), ConsistentRead=True
            )
            .get("Item")
        ) or {}
        used = {unit: max(0, int(float(item.get(unit, {}).get("N", "0")))) for unit in UNITS}
        answers.append(WindowUsage(window, used, {u: limits[f"{u}_per_{window.period}"] for u in UNITS}))
    return answers[0], answers[1]


def _add(settings: Settings, owner: str, window: Window, unit: Unit, amount: int, limit: int) -> bool:
    """ADD `amount` to the window's count, within `limit` (0: none); whether it was counted."""
    from botocore.exceptions import ClientError

    expires = int((window.resets_at + KEPT_AFTER_WINDOW).timestamp())
    request: dict[str, Any] = {
        "TableName": settings.usage_table,
        "Key": _key(owner, _window_key(window)),
        "UpdateExpression": "SET #ttl = :ttl ADD #unit :amount",
        "ExpressionAttributeNames": {"#ttl": "ttl", "#unit": unit},
        "ExpressionAttributeValues": {":ttl": {"N": str(expires)}, ":amount": {"N": str(amount)}},
    }
    if limit:
        # The count after this one stays within the limit: checked and added in one step by DynamoDB.
        request["ConditionExpression"] = "attribute_not_exists(#unit) OR #unit <= :room"
        request["ExpressionAttributeValues"][":room"] = {"N": str(limit - amount)}
    try:
        _client().update_item(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _not_yet_given_back(settings: Settings, reservation: Reservation, amount: int, token: str) -> int:
    """Of `amount` to be given back for `token` in all, what earlier runs did not: recorded as given, by one
    conditional write (a run that finds another's record changed meanwhile gives back nothing)."""
    from botocore.exceptions import ClientError

    marker = _key(reservation.owner, f"given_back#{token}")
    item = (
        _client().get_item(TableName=settings.usage_table, Key=marker, ConsistentRead=True).get("Item") or {}
    )
    before = int(item.get("amount", {}).get("N", "0"))
    if amount <= before:
        return 0
    expires = datetime.strptime(reservation.month, "%Y-%m").replace(tzinfo=UTC) + timedelta(days=31)
    try:
        _client().put_item(
            TableName=settings.usage_table,
            Item={
                **marker,
                "amount": {"N": str(amount)},
                "ttl": {"N": str(int((expires + KEPT_AFTER_WINDOW).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(#amount) OR #amount = :before",
            ExpressionAttributeNames={"#amount": "amount"},
            ExpressionAttributeValues={":before": {"N": str(before)}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return 0
        raise
    return amount - before


def _give_back_windows(settings: Settings, reservation: Reservation, amount: int, done: list[Window]) -> None:
    from botocore.exceptions import ClientError

    for window in done:
        try:
            _client().update_item(
                TableName=settings.usage_table,
                Key=_key(reservation.owner, _window_key(window)),
                UpdateExpression="ADD #unit :back",
                # Never below nothing, and never a new item for a window that is gone.
                ConditionExpression="#unit >= :amount",
                ExpressionAttributeNames={"#unit": reservation.unit},
                ExpressionAttributeValues={":back": {"N": str(-amount)}, ":amount": {"N": str(amount)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def _exceeded(unit: Unit, window: Window, limit: int, now: datetime, *, larger: bool) -> BudgetExceeded:
    retry_after = max(1, math.ceil((window.resets_at - now.astimezone(UTC)).total_seconds()))
    words = _WORDS[unit]
    resets = window.resets_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if larger:
        detail = f"This request needs more {words} than this API key's budget of {limit} a {window.period}"
    else:
        detail = f"This API key's budget of {limit} {words} a {window.period} is spent"
    return BudgetExceeded(
        f"{detail}; it resets at {resets} (GET /api/usage shows it)", retry_after=retry_after
    )


def _window_key(window: Window) -> str:
    return f"{window.period}#{window.name}"


def _key(owner: str, window: str) -> dict[str, Any]:
    return {"key_id": {"S": owner}, "window": {"S": window}}


def _client() -> Any:
    return dynamodb_client()


@built_once()
def dynamodb_client() -> Any:
    """One DynamoDB client per container (not the jobs' one: a speech request does not load the jobs code)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"})
    return boto3.session.Session().client("dynamodb", config=config)
