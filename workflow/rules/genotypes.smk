# The genotype stage, sharded: plan (checkpoint) -> pca (reference samples) -> one
# genotypes_shard job per region x sample chunk -> genotypes (merge). Memory per shard job
# grows with config genotypes.sample_chunk, not with the cohort (docs/genotypes.md).
# Without inputs.genotypes only the merge rule runs and writes empty tables.


checkpoint genotypes_plan:
    input:
        unpack(vcf_inputs),
        **stage_inputs("genotypes_plan"),
    output:
        **stage_outputs("genotypes_plan"),
    log:
        f"{LOGS}/genotypes_plan.log",
    conda:
        "../../environment.yml"
    params:
        io=io_args("genotypes_plan"),
    shell:
        "stratify genotypes --step plan {params.io} --log {log}"


rule genotypes_pca:
    input:
        unpack(vcf_inputs),
        **stage_inputs("genotypes_pca"),
    output:
        **stage_outputs("genotypes_pca"),
    log:
        f"{LOGS}/genotypes_pca.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=4000,
    params:
        io=io_args("genotypes_pca"),
    shell:
        "stratify genotypes --step pca {params.io} --log {log}"


rule genotypes_shard:
    input:
        unpack(vcf_inputs),
        **stage_inputs("genotypes_shard"),
    output:
        **stage_outputs("genotypes_shard"),
    log:
        f"{LOGS}/genotypes_shard/{{job}}.log",
    wildcard_constraints:
        job=r"r\d{4}_c\d{4}",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=2000,
    params:
        io=io_args("genotypes_shard"),
    shell:
        "stratify genotypes --step shard --job {wildcards.job} {params.io} --log {log}"


rule genotypes:
    input:
        unpack(vcf_inputs),
        unpack(genotype_merge_inputs),
        **stage_inputs("genotypes"),
    output:
        **stage_outputs("genotypes"),
    log:
        f"{LOGS}/genotypes.log",
    conda:
        "../../environment.yml"
    resources:
        mem_mb=4000,
    params:
        io=io_args("genotypes"),
        # with a VCF: merge the shards (their folder; every shard file is an input above)
        merge=genotype_merge_args,
    shell:
        "stratify genotypes {params.merge} {params.io} --log {log}"
