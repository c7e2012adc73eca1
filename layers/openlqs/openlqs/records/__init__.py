"""Record blocks: records stored as compressed packed columns, one item per time bucket and writer."""
