"""openlqs: an open, serverless log query service for robotics logs, wire-compatible with LogQS."""

__version__ = "0.1.0"

#: The LogQS API version this server speaks (the official client compares major and minor).
LOGQS_API_VERSION = "1.1.0"


def __getattr__(name: str) -> object:
    """``from openlqs import LogQS``, imported on first use: the Lambda functions never load the client."""
    if name == "LogQS":
        from openlqs.client import LogQS

        return LogQS
    raise AttributeError(f"module 'openlqs' has no attribute {name!r}")
