"""The clinical stage: symptom totals, dimensions, endpoint, treatment adequacy."""
