# Training: the SRResNet variants first, then the SRGAN variants, each SRGAN generator
# initialised from the trained variants.INIT (--init; paper, Section 3.2). `srgan train` keeps
# its resumable state in runs/<variant>/checkpoints/ (not a declared output, so Snakemake never
# deletes it): an interrupted job resumes where it stopped when the workflow is run again.
# A job reruns when its `trigger` changes: srgan.core.identity.rerun_trigger, the same run identity
# `srgan train` uses to decide whether to start over, continue or do nothing.
#
# The trigger is also the content of results/identity/<variant>.json, made by a job with no
# inputs, and each training job takes that file as an input. Without it a changed trigger goes
# unseen whenever the data step reruns too (switching from the demo to the quick profile, or to
# a mirror): Snakemake 9 skips the params check of every job downstream of one that reruns and
# then does not follow ancient inputs (results/data.ready) to them, so the old models were kept.
# A job with no inputs is downstream of nothing; when it reruns, training follows. The files
# are targets too (`train`, hence `all`): Snakemake finds a missing file only on the way from a
# target or from a job that reruns, so a workspace made before them still gets them.


rule train_identity:
    output:
        str(paths.identity_file("{variant}")),
    wildcard_constraints:
        variant=names_regex(VARIANTS),
    params:
        trigger=lambda wildcards: train_trigger(wildcards.variant),
    log:
        str(paths.log_file("train", "identity_{variant}")),
    conda:
        ENV
    shell:
        "echo {params.trigger:q} > {output} 2> {log}"


rule train:
    input:
        [run_file(variant) for variant in VARIANTS],
        [str(paths.identity_file(variant)) for variant in VARIANTS],


rule train_srresnet:
    input:
        data=TRAIN_DATA,
        identity=str(paths.identity_file("{variant}")),
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
        gpu=GPUS,
        runtime=train_runtime,
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
        identity=str(paths.identity_file("{variant}")),
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
        gpu=GPUS,
        runtime=train_runtime,
    log:
        str(paths.log_file("train", "{variant}")),
    benchmark:
        str(paths.train_timing("{variant}"))
    conda:
        ENV
    shell:
        "srgan train {wildcards.variant} --workdir {params.workdir} --init {input.init} "
        "{params.layers} --no-progress > {log} 2>&1"
