"""openlqs: an open, serverless log query service for robotics logs, wire-compatible with LogQS."""

from openlqs.version import LOGQS_API_VERSION, __version__

__all__ = ["LOGQS_API_VERSION", "LogQS", "__version__"]


def __getattr__(name: str) -> object:
    """``from openlqs import LogQS``, imported on first use: the Lambda functions never load the client."""
    if name == "LogQS":
        from openlqs.client import LogQS

        return LogQS
    raise AttributeError(f"module 'openlqs' has no attribute {name!r}")
