"""The worker: Celery and everything TensorFlow.

`celery_app` and `tasks` (thin task adapters), `runner` (claims, heartbeat, records every epoch
in the ledger), `reconciler` and `shutdown`; the training side is `engine` (orchestration of
cohorts and stacks), `stack` (the compiled stacked epoch), `checkpoint` (the member checkpoint
codec), `backend` (device, compiler, process preparation), `members` (what the engine takes and
reports), `network` (the model and its stacked maths) and `datasets`.

Only the worker process (and its tests and benchmarks) imports this package; `api/` and
`models/` never do: the API enqueues tasks by name (models.jobs.publishing).
"""
