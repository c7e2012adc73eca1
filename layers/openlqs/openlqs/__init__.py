"""openlqs: an open, serverless log query service for robotics logs, wire-compatible with LogQS."""

__version__ = "0.1.0"
