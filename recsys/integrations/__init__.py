"""Integrations with library systems: ILS export presets (Koha, Evergreen, FOLIO, Alma).

`presets` declares each system's export layout; `exports` is the mapping layer in front of
ingest that reads an export through a preset; `items` maps copies to records; `anonymous`
guards against the anonymous-patron trap; `folio`, `evergreen` and `alma` hold the few rules
that need code.
"""
