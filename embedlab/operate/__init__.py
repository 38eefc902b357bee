"""Operate a served index: calibrated thresholds, model migration, monitoring and compression planning.

Each room reuses the lifecycle's contracts: the ``Evaluator`` for quality, a ``SearchFn`` for retrieval,
the model fingerprint for compatibility, and :mod:`embedlab.atomic` for everything it saves.
"""
