"""One settings model, read once per container from the environment.

Each setting comes from the environment variable of its name (any case; values given to `Settings(...)`
win), as pydantic-settings read them; a plain pydantic model does it without that package's import (about
15 ms of a cold start's CPU: its sources for dotenv files, CLIs and clouds are never used here).
Route chains and voice maps are parsed here: a malformed value is a start-up error that names
its variable (pydantic's ValidationError), not a 500 on every request.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from speech_common.engine_names import EngineKind, engine_names
from speech_common.model_routing import RoutePolicy, RouteTable, parse_routes
from speech_common.vocabulary import DOCUMENTED_VOICES, MAX_TTS_JOB_TEXT_CHARS, SttModel, TtsModel

# Lambda's synchronous invocation payload limit, each way.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024

# Public model -> ordered chain of "engine:upstream_model" (see speech_common.model_routing). The
# defaults outlive OpenAI's shutdowns: tts-1/tts-1-hd on 2027-01-06, whisper-1 on 2027-02-26.
DEFAULT_STT_MODEL_ROUTES = "whisper-1=openai:whisper-1,openai:gpt-transcribe;gpt-4o-transcribe-diarize=openai:gpt-4o-transcribe-diarize"
# The speaker model's chain when a table names none (tables written before it existed): OpenAI's diarizing model
# where whisper-1 is served by OpenAI, else whisper-1's own chain (the offline engine: refused with a 400).
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
DEFAULT_TTS_MODEL_ROUTES = (
    "tts-1=openai:tts-1,openai-realtime:gpt-realtime-2.1-mini;"
    "tts-1-hd=openai:tts-1-hd,openai-realtime:gpt-realtime-2.1-mini"
)

# Upstream model -> the day OpenAI shuts it down: from then on a route entry naming it is skipped
# without paying a failed call (the last entry of a chain is still always tried).
DEFAULT_MODEL_SHUTDOWN_DATES = (
    "tts-1=2027-01-06;tts-1-hd=2027-01-06;gpt-4o-mini-tts=2027-01-06;"
    "whisper-1=2027-02-26;gpt-4o-transcribe=2027-02-26;gpt-4o-mini-transcribe=2027-02-26;"
    "gpt-4o-transcribe-diarize=2027-02-26"
)

# Hosts of Azure OpenAI resources: keys go in an `api-key` header, models are deployments.
AZURE_OPENAI_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")

type VoiceMap = dict[str, str]
type ShutdownDates = dict[str, date]


def parse_shutdown_dates(spec: str) -> ShutdownDates:
    """ "tts-1=2027-01-06;whisper-1=2027-02-26" -> {"tts-1": date(2027, 1, 6), ...}; "" -> {}."""
    dates: ShutdownDates = {}
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        model, sep, day = (part.strip() for part in entry.partition("="))
        try:
            dates[model] = date.fromisoformat(day)
        except ValueError:
            raise ValueError(f"shutdown date entry {entry!r} is not 'model=YYYY-MM-DD'") from None
        if not sep or not model:
            raise ValueError(f"shutdown date entry {entry!r} is not 'model=YYYY-MM-DD'")
    return dates


def parse_voice_map(spec: str) -> VoiceMap:
    """ "fable=ballad;onyx=cedar" -> {"fable": "ballad", "onyx": "cedar"}; keys are documented voices."""
    mapping: VoiceMap = {}
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        name, sep, voice_id = (part.strip() for part in entry.partition("="))
        if not sep or not name or not voice_id:
            raise ValueError(f"voice map entry {entry!r} is not 'voice=upstream_voice'")
        if name.lower() not in DOCUMENTED_VOICES:
            raise ValueError(f"{name!r} is not a documented voice ({', '.join(DOCUMENTED_VOICES)})")
        mapping[name.lower()] = voice_id
    return mapping


def _check_chains(table: RouteTable, public_models: tuple[str, ...], kind: EngineKind) -> RouteTable:
    unknown = sorted(set(table) - set(public_models))
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a documented model ({', '.join(public_models)})")
    missing = [model for model in public_models if model not in table]
    if missing:
        raise ValueError(f"no route for {missing[0]!r}")
    names = engine_names(kind)
    for chain in table.values():
        for route in chain:
            if route.engine not in names:
                raise ValueError(f"{route.engine!r} is not a {kind} engine ({', '.join(names)})")
    return table


def _azure_endpoint_of(base_url: object) -> str | None:
    if not isinstance(base_url, str) or not base_url:
        return None
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    return f"{parts.scheme}://{parts.netloc}" if host.endswith(AZURE_OPENAI_HOST_SUFFIXES) else None


class Settings(BaseModel):
    # Defaults validated too (the route tables' checks), as pydantic-settings did.
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    # Upstream credentials: the environment variable wins over the secret (local use).
    openai_api_key: SecretStr | None = None
    openai_secret_name: str | None = None
    openai_secret_key_field: str = "OPENAI_API_KEY"
    secret_max_age_seconds: int = Field(default=300, ge=0)
    openai_base_url: str | None = None
    # OpenAI-Organization and OpenAI-Project headers on OpenAI's HTTP API (the variables the SDK read).
    openai_org_id: str | None = None
    openai_project_id: str | None = None
    # Realtime API (WebSocket); derived from openai_base_url when unset.
    openai_realtime_base_url: str | None = None
    # Azure OpenAI: the resource's endpoint (an Azure host in OPENAI_BASE_URL counts as one) and the
    # API version its REST and realtime calls name. Routes then name deployments as upstream models.
    azure_openai_endpoint: str | None = None
    azure_openai_api_version: str | None = Field(default=None, validate_default=True)

    # Documented voice -> upstream voice, "name=voice;..."; unlisted voices pass through.
    realtime_voice_map: VoiceMap = parse_voice_map("fable=ballad;onyx=cedar;nova=marin")
    polly_voice_map: VoiceMap = parse_voice_map(
        "alloy=Joanna;echo=Matthew;fable=Arthur;onyx=Gregory;nova=Danielle;shimmer=Ruth"
    )

    stt_model_routes: RouteTable = parse_routes(DEFAULT_STT_MODEL_ROUTES)
    tts_model_routes: RouteTable = parse_routes(DEFAULT_TTS_MODEL_ROUTES)
    model_shutdown_dates: ShutdownDates = parse_shutdown_dates(DEFAULT_MODEL_SHUTDOWN_DATES)
    # How long an entry that answered "model gone" before its date is skipped before one request retries it.
    model_gone_retry_seconds: float = Field(default=600.0, ge=0)

    # Time: the gateway answers 504 29 s after it received the request, so nothing upstream may
    # run past that, less a reserve for encoding and returning the answer.
    upstream_budget_seconds: float = Field(default=27.0, gt=0)
    gateway_timeout_seconds: float = Field(default=29.0, gt=0)
    response_reserve_seconds: float = Field(default=2.0, ge=0)
    deadline_margin_seconds: float = Field(default=1.0, ge=0)
    # The stream function's integration timeout (StreamTimeoutMillis, up to 15 min): when set, the two above follow
    # it (the budget: it, less the reserve) instead of the buffered routes' 29 s.
    gateway_timeout_millis: int | None = Field(default=None, gt=0, le=900_000)
    upstream_max_attempts: int = Field(default=3, ge=1, le=5)
    # Reasoning effort the realtime TTS session asks for ("" sends none): the least reads soonest.
    realtime_reasoning_effort: Literal["", "minimal", "low", "medium", "high", "xhigh"] = "minimal"
    # Long recordings: longer than this is cut at silences and transcribed in up to stt_parallel_calls
    # pieces at once (each counts against the account's requests-per-minute limit).
    stt_split_above_seconds: float = Field(default=300.0, gt=0)
    stt_parallel_calls: int = Field(default=16, ge=1, le=32)
    # Only speech goes upstream (voice_activity.py): off sends every recording whole, silences and all.
    stt_voice_activity: bool = True
    # The longest recording POST /api/stt/ takes (bench/long_audio.py: about 60 min fit in 27 s on a
    # 512 MB function with 16 parallel calls at 30 audio seconds a second; half of that, for margin).
    sync_max_audio_seconds: float = Field(default=1800.0, gt=0)
    # What one request reads of an upload (the STT function has 512 MB); larger files are jobs.
    sync_max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # The longest recording a job takes (the worker decodes it whole: about 115 MB of memory an hour).
    job_max_audio_seconds: float = Field(default=4 * 3600.0, gt=0)
    # Calls one long text is read in, at once (chunks are sized for one round of them). Each counts
    # against the OpenAI account's requests-per-minute limit: lower it on a low usage tier.
    tts_parallel_calls: int = Field(default=8, ge=1, le=16)
    # The longest text POST /api/tts/jobs/ takes (100,000 characters: about two hours of speech).
    tts_job_max_chars: int = Field(default=100_000, ge=1, le=MAX_TTS_JOB_TEXT_CHARS)

    # Storage and jobs (template: the bucket, the table and the queue). Optional here: each function
    # names those it needs with require(), which fails its cold start when one is unset.
    speech_bucket: str | None = None
    jobs_table: str | None = None
    jobs_queue_url: str | None = None
    # Budgets per API key (budgets.py; template: UsageTable and the Budget* parameters, whose defaults these are):
    # characters of speech and seconds of audio a UTC day and a calendar month; 0 is no limit. No table: no budgets.
    usage_table: str | None = None
    budget_characters_per_day: int = Field(default=100_000, ge=0)
    budget_characters_per_month: int = Field(default=1_000_000, ge=0)
    budget_audio_seconds_per_day: int = Field(default=28_800, ge=0)
    budget_audio_seconds_per_month: int = Field(default=200_000, ge=0)
    # How soon a job whose worker died is delivered again (template: JobRetrySeconds): the worker keeps its message
    # hidden, and its lease on the job, this long at a time, renewed while it works.
    job_retry_seconds: int = Field(default=180, ge=1, le=900)
    max_upload_object_bytes: int = Field(
        default=500 * 1024 * 1024, gt=0
    )  # what a presigned POST lets S3 take
    upload_url_expires_seconds: int = Field(default=900, gt=0)
    # How long an audio link (a speech job's result, "delivery": "url") works (template: AudioLinkSeconds): each link
    # can be fetched any number of times until then, and every download is S3 egress the deployer pays.
    result_url_expires_seconds: int = Field(default=600, ge=60, le=3600)
    upload_retention_days: int = Field(default=1, gt=0)  # the bucket's lifecycle rule deletes them then
    result_retention_days: int = Field(default=7, gt=0)
    # Identical speech requests served from the bucket's cache/ (when there is a bucket).
    # An X-Ray subsegment per upstream route attempt (template parameter TraceUpstreamCalls; observability.py).
    trace_upstream_calls: bool = False
    tts_cache: bool = True  # jobs (table TTL) and results (lifecycle rule)

    # Webhooks and audio_url (outbound.py, jobs/webhooks.py). The signing secret: WEBHOOK_SECRET (make serve sets one)
    # wins over the Secrets Manager secret the template creates (WEBHOOK_SECRET_NAME, its ARN).
    webhook_secret: SecretStr | None = None
    webhook_secret_name: str | None = None
    # Seconds before each retry of a webhook that failed (SQS DelaySeconds: at most 900 each); its length bounds the
    # attempts (one more than it holds), its sum how long a delivery is tried.
    webhook_retry_delays: tuple[int, ...] = (10, 60, 300, 900, 900, 900)
    # Loopback addresses (and plain http to them) allowed: only the local server sets it (make serve).
    outbound_allow_loopback: bool = False
    # How long the worker waits for an audio_url's answer in all.
    audio_url_fetch_seconds: float = Field(default=120.0, gt=0)

    # Browsers: the origin whose pages may read the answers (template: AllowedOrigins), "*" for any.
    cors_allow_origin: str = Field(default="*", pattern=r"^(\*|https?://[^,\s/'\"]+)$")

    # Size: Lambda carries 6 MB each way; API Gateway base64-encodes binary bodies.
    max_event_body_bytes: int = LAMBDA_PAYLOAD_LIMIT_BYTES
    max_response_body_bytes: int = LAMBDA_PAYLOAD_LIMIT_BYTES - 64 * 1024
    max_upload_bytes: int = 25 * 1024 * 1024

    @model_validator(mode="before")
    @classmethod
    def _from_the_environment(cls, given: Any) -> Any:
        """Each field's variable from the environment, under what the constructor was given."""
        if not isinstance(given, dict):
            return given
        environment = {name.lower(): value for name, value in os.environ.items()}
        values = {**{name: environment[name] for name in cls.model_fields if name in environment}, **given}
        return _with_streamed_gateway_timeout(values)

    @field_validator("webhook_retry_delays", mode="before")
    @classmethod
    def _delays(cls, value: Any) -> Any:
        return (
            tuple(int(part) for part in value.split(",") if part.strip()) if isinstance(value, str) else value
        )

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays_sqs_takes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= delay <= 900 for delay in value):
            raise ValueError("each delay is 0 to 900 seconds (SQS's DelaySeconds)")
        return value

    @field_validator("realtime_voice_map", "polly_voice_map", mode="before")
    @classmethod
    def _voice_map(cls, value: Any) -> Any:
        return parse_voice_map(value) if isinstance(value, str) else value

    @field_validator("model_shutdown_dates", mode="before")
    @classmethod
    def _shutdown_dates(cls, value: Any) -> Any:
        return parse_shutdown_dates(value) if isinstance(value, str) else value

    @field_validator("azure_openai_api_version")
    @classmethod
    def _azure_needs_a_version(cls, value: str | None, info: ValidationInfo) -> str | None:
        azure = info.data.get("azure_openai_endpoint") or _azure_endpoint_of(info.data.get("openai_base_url"))
        if azure and not value:
            raise ValueError(
                "required with an Azure OpenAI endpoint (e.g. 2025-04-01-preview): Azure names the API "
                "version in every REST and realtime call"
            )
        return value

    @property
    def azure_endpoint(self) -> str | None:
        """The Azure OpenAI endpoint in use, if any (set, or the host of an Azure OPENAI_BASE_URL)."""
        return self.azure_openai_endpoint or _azure_endpoint_of(self.openai_base_url)

    @property
    def route_policy(self) -> RoutePolicy:
        return RoutePolicy(self.model_shutdown_dates, self.model_gone_retry_seconds)

    @field_validator("stt_model_routes", "tts_model_routes", mode="before")
    @classmethod
    def _route_table(cls, value: Any) -> Any:
        return parse_routes(value) if isinstance(value, str) else value

    @field_validator("stt_model_routes")
    @classmethod
    def _stt_chains(cls, table: RouteTable) -> RouteTable:
        if DIARIZE_MODEL not in table and "whisper-1" in table:
            openai = any(route.engine == "openai" for route in table["whisper-1"])
            default = parse_routes(DEFAULT_STT_MODEL_ROUTES)[DIARIZE_MODEL]
            table = {**table, DIARIZE_MODEL: default if openai else table["whisper-1"]}
        return _check_chains(table, get_args(SttModel), "stt")

    @field_validator("tts_model_routes")
    @classmethod
    def _tts_chains(cls, table: RouteTable) -> RouteTable:
        return _check_chains(table, get_args(TtsModel), "tts")


class ConfigurationError(RuntimeError):
    """The environment holds a setting that cannot be used; the message names each variable."""


def describe_configuration_errors(error: ValidationError) -> str:
    """One line a variable: its name and what is wrong, never its value (it may be a secret)."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        variable = ".".join(str(part) for part in problem["loc"]).upper() or "settings"
        lines.append(f"{variable}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings; a bad value is a start-up error (ConfigurationError) naming its variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(f"bad configuration: {describe_configuration_errors(error)}") from None


# The AWS resources a function may need, as Settings names them (their variables are these, upper-cased).
type Resource = Literal["speech_bucket", "jobs_table", "jobs_queue_url"]


def require(*resources: Resource) -> Settings:
    """The container's settings, with each of `resources` set: called when a function's module loads, so that
    a missing bucket, table or queue fails its cold start (ConfigurationError naming each variable), not
    each request that needs it."""
    settings = get_settings()
    missing = [name for name in resources if not getattr(settings, name)]
    if missing:
        problems = "; ".join(f"{name.upper()}: required by this function, and not set" for name in missing)
        raise ConfigurationError(f"bad configuration: {problems}")
    return settings


def resource(name: Resource) -> str:
    """One resource's name or URL (the bucket, the table, the queue), for code that runs where it is required."""
    value: str = getattr(require(name), name)
    return value


def _with_streamed_gateway_timeout(values: dict[str, Any]) -> dict[str, Any]:
    """A streamed route's timeout (gateway_timeout_millis) in place of the gateway's 29 s, and the upstream budget
    it leaves (less the reserve): a stream may run for minutes."""
    millis = values.get("gateway_timeout_millis")
    if millis in (None, ""):
        return values
    try:
        seconds = int(millis) / 1000
        reserve = float(
            values.get("response_reserve_seconds", Settings.model_fields["response_reserve_seconds"].default)
        )
    except (TypeError, ValueError):
        return values  # the field's own validation names the bad value
    return {"gateway_timeout_seconds": seconds, "upstream_budget_seconds": seconds - reserve, **values}
