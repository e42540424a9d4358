"""The catalog: what the product holds and the rules for holding it.

Genres (the taxonomy), tracks and their lifecycle (``status.py``), import batches, model versions
and promotions (``promotion.py``), analyses; the ingest service every door goes through
(``ingest.py``); the CMS REST API (``api/``). The catalog never runs a model: it imports no torch
and none of the engine's model code, only ``inference.engine.audio`` to check an upload and
``inference.pipeline`` to queue its analysis (``lint-imports`` checks).
"""
