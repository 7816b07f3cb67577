"""`make bench`: figures for ingest speed, model quality, training scaling, service and nightly."""
