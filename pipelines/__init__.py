"""Batch jobs: thin wiring that parses arguments, calls `recsys`, writes outputs and logs counts."""
