"""recsys: personalized reading recommendations for libraries."""

__version__ = "0.1.0"
