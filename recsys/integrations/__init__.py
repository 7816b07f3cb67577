"""Connections to the systems libraries run: the catalog widget (and ILS export presets)."""
