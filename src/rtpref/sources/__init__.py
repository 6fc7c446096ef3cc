"""Data sources: where pairs, their rewards and their features come from (DESIGN §2.6)."""
