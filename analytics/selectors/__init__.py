"""Analytics reads: the dashboard, the weekly report's figures, the CSV exports."""
