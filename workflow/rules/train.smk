# Training: the SRResNet variants first, then the SRGAN variants, each SRGAN generator
# initialised from the trained variants.INIT (--init; paper, Section 3.2). `srgan train` keeps
# its resumable state in runs/<variant>/checkpoints/ (not a declared output, so Snakemake never
# deletes it): an interrupted job resumes where it stopped when the workflow is run again.
# A job reruns when its `trigger` changes: srgan.variants.rerun_trigger, the same run identity
# `srgan train` uses to decide whether to start over, continue or do nothing.


rule train:
    input:
        [run_file(variant) for variant in VARIANTS],


rule train_srresnet:
    input:
        data=TRAIN_DATA,
    output:
        model=run_file("{variant}"),
        metadata=run_file("{variant}", "metadata"),
    wildcard_constraints:
        variant=names_regex(SRRESNET_VARIANTS),
    params:
        trigger=lambda wildcards: train_trigger(wildcards.variant),
        workdir=lambda wildcards, output: Path(output.model).parent,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=1,
    log:
        str(paths.log_file("train", "{variant}")),
    benchmark:
        str(paths.train_timing("{variant}"))
    conda:
        ENV
    shell:
        "srgan train {wildcards.variant} --workdir {params.workdir} {params.layers} "
        "--no-progress > {log} 2>&1"


rule train_srgan:
    input:
        data=TRAIN_DATA,
        init=run_file(variants.INIT),
    output:
        model=run_file("{variant}"),
        metadata=run_file("{variant}", "metadata"),
    wildcard_constraints:
        variant=names_regex(SRGAN_VARIANTS),
    params:
        trigger=lambda wildcards: train_trigger(wildcards.variant),
        workdir=lambda wildcards, output: Path(output.model).parent,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=1,
    log:
        str(paths.log_file("train", "{variant}")),
    benchmark:
        str(paths.train_timing("{variant}"))
    conda:
        ENV
    shell:
        "srgan train {wildcards.variant} --workdir {params.workdir} --init {input.init} "
        "{params.layers} --no-progress > {log} 2>&1"
