"""stratify: pharmacogenomic and biomarker stratification for treatment-resistant depression."""

__version__ = "0.1.0"
