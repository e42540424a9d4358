"""Inference wiring: the engine (``inference.engine``, Django-free) put to work by Django and RQ.

Here live the jobs and the worker (``jobs``, ``worker``, ``pipeline``), the model registry and the
process-wide loaded model (``registry``, ``runtime``, ``serving``), synchronous classification for
the API and the workstation (``sync``), stored results (``results``), teacher targets and
retraining (``teacher_targets``, ``retraining``, ``retrain``), and the admin pages for all of it.
"""
