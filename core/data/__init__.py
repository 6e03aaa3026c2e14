"""Data files shipped with the core (the discussion-prompt library)."""
