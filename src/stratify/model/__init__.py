"""The model stage: the response model in nested cross-validation, external validation, model card."""
