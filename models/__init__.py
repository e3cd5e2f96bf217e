"""lrlab's shared core: settings, DB and tables, specs, lifecycle and ledger, schedule math.

Also sweeps, their comparison and plots. `api/` and `worker/` import `models`; `models`
imports neither of them, nor TensorFlow.
"""
