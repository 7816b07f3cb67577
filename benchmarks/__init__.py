"""`make bench`: figures for ingest speed, model quality, training scaling, service, nightly and
the giant-reader guard."""
