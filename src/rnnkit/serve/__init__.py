"""``rnnkit serve``: trained runs behind a local HTTP API (FastAPI + uvicorn).

:func:`create_app` builds the application from loaded runs (:func:`load_runs`); the endpoints are listed
in :mod:`rnnkit.serve.app`, the dynamic batching of generation in :mod:`rnnkit.serve.batching`.
"""

from .app import Limits, create_app
from .runs import ServedRun, load_runs, pick

__all__ = ["Limits", "ServedRun", "create_app", "load_runs", "pick"]
