"""ROS 2 recordings as ``ros2 bag record`` writes them: a folder with ``metadata.yaml`` and storage files.

The rooms, one concern each:

- :mod:`~openlqs.formats.rosbag2.metadata`: ``metadata.yaml`` (versions 1 to 9) and its storage files;
- :mod:`~openlqs.formats.rosbag2.sqlite`: reading sqlite3 storage (``.db3``), every schema version;
- :mod:`~openlqs.formats.rosbag2.definitions`: definitions of standard types from rosbags' stores;
- :mod:`~openlqs.formats.rosbag2.convert`: a ``.db3`` rewritten as an MCAP file (records point into it);
- :mod:`~openlqs.formats.rosbag2.zstd`: file- and message-level zstd, with bounded memory.

MCAP storage files are MCAP files: the MCAP format reads them. Nothing here does I/O beyond the local
files and streams it is handed.
"""

from openlqs.formats.rosbag2.convert import (
    ConversionSummary,
    ConvertedTopic,
    convert_db3_to_mcap,
    decompress_mcap_messages,
)
from openlqs.formats.rosbag2.metadata import Rosbag2Metadata, StorageFile, parse_metadata, storage_files
from openlqs.formats.rosbag2.zstd import ZstdMessageDecompressor, decompress_zstd_stream

__all__ = [
    "ConversionSummary",
    "ConvertedTopic",
    "Rosbag2Metadata",
    "StorageFile",
    "ZstdMessageDecompressor",
    "convert_db3_to_mcap",
    "decompress_mcap_messages",
    "decompress_zstd_stream",
    "parse_metadata",
    "storage_files",
]
