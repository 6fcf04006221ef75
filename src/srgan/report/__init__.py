"""From results to pages: Tables 1 and 2, provenance, charts and figures, the report notebooks
and the index."""
