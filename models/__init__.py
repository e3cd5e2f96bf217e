"""lrlab's shared core, one package per concept; `api/` and `worker/` import it, never the reverse.

- `storage`: settings, database engine and sessions, migrations.
- `identity`: projects, API keys, the credentials file, the first start.
- `jobs`: the lifecycle every kind of job shares, publishing, idempotency, live signals.
- `training`: model families, optimizers, datasets and epoch metrics, described once.
- `schedules`: every learning-rate schedule, exact to its library.
- `experiments`, `sweeps`, `range_tests`: the three things users submit.
- `plots`: the shared renderer.

Shared by all: `tables` (the one ORM schema, with `JobStatus`), `errors` (domain errors,
mapped to HTTP in `api/errors.py`) and `fields` (field types every input schema uses). No module
here imports TensorFlow, `api` or `worker`.
"""
