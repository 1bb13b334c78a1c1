"""The trd stage: treatment-resistant depression under every published definition."""
