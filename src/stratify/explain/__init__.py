"""The explain stage: SHAP values, importance and plots."""
