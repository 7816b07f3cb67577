"""Data contracts: input schemas, row validation, readers (CSV, MARC21), the Dataset, splits."""
