"""Training engines: where the nightly's models are fitted.

- ``implicit``: one process on one machine (implicit's ALS, scipy, pandas), the default;
- ``spark``: Apache Spark (`recsys.engines.spark`), in local mode on one machine or on a
  cluster, for consortia whose loans outgrow one machine's memory.

Both write the same bundle (`recsys.artifacts`), so the gate, rollback and the service do not
know which engine trained a model.
"""

from __future__ import annotations

IMPLICIT = "implicit"
SPARK = "spark"
ENGINES = (IMPLICIT, SPARK)
