"""The Spark engine: the consortium model trained with Spark SQL and `pyspark.ml`'s ALS.

pyspark is an optional extra (``pip install recsys[spark]``) and needs Java 17; nothing here
imports it until a Spark session is asked for (`session.spark_session`).
"""
