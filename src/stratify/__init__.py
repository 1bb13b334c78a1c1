"""stratify: pharmacogenomic and biomarker stratification for treatment-resistant depression."""

import os

# OpenMP threads (XGBoost's, scikit-learn's) that wait for work sleep instead of spinning.
# libgomp's default is to spin for a while, which on a machine whose cores are busy with
# other work (a shared node, snakemake running two stages at once) makes a 2-thread XGBoost
# fit 5-30x slower than a 1-thread one (docs/performance.md, "Whole pipeline at 1k, 10k and
# 100k patients"). It must be set before the OpenMP runtime loads; an explicit setting in the
# environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
