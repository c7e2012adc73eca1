"""openlqs on one machine: moto, the template's tables and bucket, and the handlers (the state machines'
tasks in worker processes, the rest in the stack's process).

Start it with ``openlqs local`` (or ``python -m openlqs.local``), or from Python with
:class:`~openlqs.local.stack.LocalStack`.
"""

from openlqs.local.runner import run_foreground
from openlqs.local.stack import LocalStack

__all__ = ["LocalStack", "run_foreground"]
