"""Analytics writes: recording chat's signals, knowledge gaps, reports, demo data."""
