"""The unattended nightly retraining: ingest, validate, train, evaluate, gate, publish.

Each step is a function of ``(settings, RunContext)`` in `recsys.nightly.steps`, so the CLI can run
them one by one or all in order (`recsys.nightly.runner.run_nightly`).
"""
