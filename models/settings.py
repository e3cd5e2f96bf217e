"""Process-wide configuration read from `LRLAB_*` environment variables."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of lrlab; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="LRLAB_", extra="ignore")

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/lrlab"
    broker_url: str = "redis://127.0.0.1:6379/0"
    mnist_path: str | None = None
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
    # Members of a sweep (or compatible queued experiments) trained as one fused group.
    group_size: int = Field(default=8, ge=1, le=4096)
    # Members per stacked model inside a group; unset: 4 on a CPU, 64 on an accelerator.
    max_stack: int | None = Field(default=None, ge=1, le=4096)
    # Compile the default spec's training step when a worker starts (first epoch comes fast).
    warm_up: bool = True
    # Operator token (Bearer) for /metrics and the detailed /readyz; identity may take it over.
    admin_token: str | None = None
    # Serve GET /metrics without the operator token (for a scraper on a private network).
    metrics_public: bool = False
    # Port a worker serves its Prometheus metrics on; unset: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)


@lru_cache
def get_settings() -> Settings:
    """Return the cached settings of this process."""
    return Settings()
