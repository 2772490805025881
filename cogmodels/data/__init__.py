"""Data files shipped with cogmodels (see NOTICE.md)."""
