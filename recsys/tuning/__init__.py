"""Choosing a model's parameters on validation carved from its own training data.

`validation` carves it (with `recsys.evaluation.splits`); `blend` chooses the hybrid's blend on
it, scoring trial lists with `recsys.evaluation.metrics`' NDCG.
"""
