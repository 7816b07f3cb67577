"""The few exception types recsys raises; messages never contain a reader id."""

from __future__ import annotations


class RecsysError(Exception):
    """Base class: an error a user or operator can act on, with a message saying how."""


class ConfigurationError(RecsysError):
    """A setting is missing, malformed or unsafe (for example a short pseudonym key)."""


class InputFormatError(RecsysError):
    """An input file cannot be read as the declared kind (not CSV, missing column, bad MARC)."""


class TooManyBadRowsError(RecsysError):
    """An ingest batch had a larger share of malformed rows than allowed; nothing was stored."""


class ModelNotFoundError(RecsysError):
    """No published model exists yet, or a named run does not exist."""


class BundleIntegrityError(RecsysError):
    """A model bundle is incomplete or a file's checksum does not match its manifest."""


class ErasurePendingError(RecsysError):
    """A model run may hold a reader erased after its data were read: it was not purged since."""


class NotFittedError(RecsysError):
    """A recommender was used before `fit`."""


class UnknownBookError(RecsysError):
    """A book id is unknown to the model and the catalog."""


class NotPrivateError(RecsysError):
    """A model whose lists could reveal a reader's loans was asked to be published or served."""
