"""A deterministic, realistic sample library: catalog, holdings, loans and browse sessions.

Used by `make demo`, the tests and the benchmarks, so that the project never needs real data::

    library = generate_library(SampleConfig(n_loans=50_000, seed=42))
    write_library(library, settings.inbox_dir)
"""

from recsys.sample.config import SampleConfig, size_table
from recsys.sample.files import write_library
from recsys.sample.library import SampleLibrary, generate_library, library_dataset

__all__ = [
    "SampleConfig",
    "SampleLibrary",
    "generate_library",
    "library_dataset",
    "size_table",
    "write_library",
]
