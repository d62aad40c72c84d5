"""Batch scoring of a campaign of any size: the modules follow the data once.

:mod:`~serving.batch.read` (the folder, its preflight, the samples partitioned by run) →
:mod:`~serving.batch.chunks` (chunks of runs held to the contract) →
:mod:`~serving.batch.score` (each chunk featurised and scored, locally or on Spark through
:mod:`~serving.batch.spark`) → :mod:`~serving.batch.write` (the output files, written in a
scratch folder and published whole). :mod:`~serving.batch.pipeline` runs the four in that
order for ``clonescout score``; no module calls back into the one that called it.
"""
