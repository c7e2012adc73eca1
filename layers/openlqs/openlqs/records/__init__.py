"""Records: stored as compressed packed columns, one item per time bucket and writer (``codec``,
``rows``), and what record lists and fetches derive from them (``reading``, ``previews``)."""
