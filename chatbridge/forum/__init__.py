"""Pure forum building blocks: text limits, countries, dates, durations, trophies and ranks."""
