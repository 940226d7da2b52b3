"""Reports: a run's record replayed, judged and shown (terminal, JSON, HTML)."""
