"""The ingestion pipeline: plan a log file's parts, index them into record blocks, finalize or fail."""
