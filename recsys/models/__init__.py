"""Recommenders behind one contract (`recsys.models.base.Recommender`)."""
