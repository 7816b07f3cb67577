"""Connections to the systems libraries run: the catalog widget and the ILS export presets.

`widget/` holds the embeddable widget's files (served by `recsys.service.routes.widget`).
`presets` declares each system's export layout (Koha, Evergreen, FOLIO, Alma); `exports` is the
mapping layer in front of ingest that reads an export through a preset; `items` maps copies to
records; `anonymous` guards against the anonymous-patron trap; `folio`, `evergreen` and `alma`
hold the few rules that need code.
"""
