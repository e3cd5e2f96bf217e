"""Process-wide configuration read from `LRLAB_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from limits import parse_many
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of lrlab; docs/operating.md's configuration table describes each."""

    model_config = SettingsConfigDict(env_prefix="LRLAB_", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab"
    broker_url: str = "redis://127.0.0.1:6379/0"
    # A missing database is created only on a first start (no credentials file) or when asked.
    create_database: bool = False
    mnist_path: str | None = None
    # Fashion-MNIST's IDX folder or npz; unset: Debian's dataset-fashion-mnist, else a download.
    fashion_mnist_path: str | None = None
    queue: str = Field(default="lrlab", min_length=1)
    # Broker calls from the API must fail fast: Postgres is the record, the broker only a doorbell.
    broker_timeout_seconds: float = Field(default=2.0, gt=0)
    # Lease a worker holds on a running experiment; a heartbeat renews it every quarter.
    lease_seconds: int = Field(default=60, ge=2)
    max_attempts: int = Field(default=3, ge=1, le=100)
    # Queued experiments older than this with no worker are enqueued again by the reconciler.
    requeue_after_seconds: int = Field(default=30, ge=1)
    reconcile_interval_seconds: float = Field(default=5.0, gt=0)
    # Bound on one experiment's training time, checked at every epoch end.
    experiment_time_limit_seconds: int = Field(default=6 * 3600, ge=10)
    checkpoint_dir: str | None = None
    sweep_max_experiments: int = Field(default=500, ge=1)
    idempotency_ttl_hours: int = Field(default=48, ge=24)
    # Members of a sweep (or compatible queued experiments) trained as one fused group: 12,
    # a full stack of CNN members on a CPU (three of MLP members).
    group_size: int = Field(default=12, ge=1, le=4096)
    # Members per stacked model inside a group; unset: on a CPU 4 (MLP) or 12 (CNN), 64 on an
    # accelerator.
    max_stack: int | None = Field(default=None, ge=1, le=4096)
    # Compile the default spec's training step when a worker starts (first epoch comes fast).
    warm_up: bool = True
    # Queues a request may name (comma list); the default `queue` is always allowed. Anything
    # else could name a Redis key kombu owns (e.g. `unacked`) and break every worker.
    queues: Annotated[tuple[str, ...], NoDecode] = ("lrlab",)
    # Request bodies past this are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Cap on epochs × optimizer steps per epoch of one experiment (its stored step lrs).
    max_steps_per_experiment: int = Field(default=1_000_000, ge=1)

    @field_validator("queues", mode="before")
    @classmethod
    def _split_queues(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(q.strip() for q in value.split(",") if q.strip())
        return value

    @property
    def allowed_queues(self) -> tuple[str, ...]:
        """The operator's allow-list, plus the default queue."""
        return tuple(dict.fromkeys((self.queue, *self.queues)))

    # Identity: the operator's secret (else read from the credentials file the bootstrap wrote).
    admin_token: str | None = Field(default=None, min_length=16)

    @field_validator("admin_token", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # Compose passes `${LRLAB_ADMIN_TOKEN:-}` as an empty string when no token is set.
        return None if value == "" else value

    credentials_file: str | None = None
    # Per-project quota defaults; an operator overrides them per project.
    quota_active_experiments: int = Field(default=1000, ge=0)
    quota_sweep_members: int = Field(default=500, ge=1)
    quota_request_steps: int = Field(default=10_000_000, ge=1)
    quota_active_range_tests: int = Field(default=100, ge=0)
    # Per key on every mutating route, held in the broker's Redis; "off" disables. Several
    # limits separated by ";" all apply ("100/minute;5/second").
    rate_limit: str = "50/second"
    # Failed authentications (401) per client host before it is answered 429; "off" disables.
    auth_failure_limit: str = "20/second;600/hour"

    @field_validator("rate_limit", "auth_failure_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str, info: ValidationInfo) -> str:
        text = value.strip()
        if text.lower() == "off":
            return "off"
        try:
            items = parse_many(text)
        except ValueError:
            items = []
        if not items or any(item.amount < 1 for item in items):
            raise ValueError(
                f"`{info.field_name}` must be 'off' or limits like '100/minute;5/second', "
                f"got {value[:64]!r}"
            )
        return text

    # Origins allowed cross-site (comma-separated); none: no CORS headers at all.
    cors_origins: str = ""
    # Live streams: a comment every this many seconds keeps proxies from closing an idle one.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # Open event streams per API key; 429 past it.
    max_streams_per_key: int = Field(default=16, ge=1, le=10_000)
    # A group checkpoints at most this often (seconds of its training), on SIGTERM before
    # handing back, never after its last epoch; 0 checkpoints after every epoch but the last.
    checkpoint_every_seconds: float = Field(default=60.0, ge=0)
    # Serve GET /metrics without the operator token (for a scraper on a private network).
    metrics_public: bool = False
    # Port a worker serves its Prometheus metrics on; unset: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Plot and preview renders waiting or running in one API process (one draws at a time);
    # past it a render answers 503 with Retry-After instead of holding a thread in the queue.
    render_queue_depth: int = Field(default=4, ge=1, le=1000)
    # Open event streams per project and per API process, across all keys; 429 past either.
    max_streams_per_project: int = Field(default=64, ge=1, le=100_000)
    max_streams_per_process: int = Field(default=256, ge=1, le=100_000)


@lru_cache
def get_settings() -> Settings:
    """Return the cached settings of this process."""
    return Settings()


# The checkout's root: `models/storage/` is two levels below it.
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CREDENTIALS_FILE = ROOT / ".lrlab" / "credentials.json"


def credentials_path(settings: Settings) -> Path:
    """Where the credentials file lives."""
    return (
        Path(settings.credentials_file) if settings.credentials_file else DEFAULT_CREDENTIALS_FILE
    )
