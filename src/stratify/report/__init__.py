"""The report stage: one offline HTML file."""
