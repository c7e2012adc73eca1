"""Log formats, and what readers of any format share.

- :mod:`~openlqs.formats.base`: the neutral shapes every format gives the pipeline (channels, spans,
  record columns) and the :class:`~openlqs.formats.base.LogFormat` protocol;
- :mod:`~openlqs.formats.registry`: the formats, chosen by a file's first bytes;
- :mod:`~openlqs.formats.compression`: chunk compressions by their ``chunk_compression`` name;
- :mod:`~openlqs.formats.messages`: message decoding;
- one subpackage per format (:mod:`~openlqs.formats.ros1`).

The client imports the compression and message modules only (no numpy): nothing here imports a format.
"""
