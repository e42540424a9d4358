"""Review: what editors do with the model's proposals, and what their decisions become.

Claims (one editor per track, ``claims.py``), append-only decisions and catalog labels
(``decisions.py``), the uncertainty-first queue and editor statistics (``selectors.py``), model vs
editor agreement (``agreement.py``), label exports for training (``exports.py``); the review
screen, workstation, model and report pages inside the admin (``*views.py``, ``admin.py``).
"""
