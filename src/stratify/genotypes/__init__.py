"""The genotypes stage: VCF reading, sharded scan, principal components, polygenic scores."""
