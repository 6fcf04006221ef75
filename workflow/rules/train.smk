# Training: srresnet_mse first, then srresnet_vgg22 and the SRGAN variants, each SRGAN
# generator initialised from srresnet_mse (--init). `srgan train` keeps its resumable state in
# runs/<variant>/checkpoints/ (not a declared output, so Snakemake never deletes it): an
# interrupted job resumes where it stopped when the workflow is run again.


rule train:
    input:
        expand("runs/{variant}/final.pt", variant=VARIANTS),


rule train_srresnet:
    input:
        data=TRAIN_DATA,
    output:
        model="runs/{variant}/final.pt",
    wildcard_constraints:
        variant=names_regex(SRRESNET_VARIANTS),
    params:
        fingerprint=lambda wildcards: train_fingerprint(wildcards.variant),
        workdir=lambda wildcards, output: Path(output.model).parent,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=1,
    log:
        "logs/train/{variant}.log",
    benchmark:
        "results/benchmarks/train_{variant}.tsv"
    conda:
        ENV
    shell:
        "srgan train {wildcards.variant} --workdir {params.workdir} {params.layers} "
        "--no-progress > {log} 2>&1"


rule train_srgan:
    input:
        data=TRAIN_DATA,
        init=f"runs/{SRGAN_INIT}/final.pt",
    output:
        model="runs/{variant}/final.pt",
    wildcard_constraints:
        variant=names_regex(SRGAN_VARIANTS),
    params:
        fingerprint=lambda wildcards: train_fingerprint(wildcards.variant),
        workdir=lambda wildcards, output: Path(output.model).parent,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=1,
    log:
        "logs/train/{variant}.log",
    benchmark:
        "results/benchmarks/train_{variant}.tsv"
    conda:
        ENV
    shell:
        "srgan train {wildcards.variant} --workdir {params.workdir} --init {input.init} "
        "{params.layers} --no-progress > {log} 2>&1"
