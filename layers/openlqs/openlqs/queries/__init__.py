"""LogQS queries: one SQL statement run by DuckDB over read-only Arrow views of a log.

``engine`` checks and runs the statement within limits and returns JSON-safe columns, rows or an error;
``views`` builds the views (``topics``, ``records``, ``tags``, ``ingestions``) from a log's resources and
record blocks. Neither reads storage itself: the caller hands in what to read, lazily.
"""
