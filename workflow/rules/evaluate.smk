# Evaluation: every model and the nearest/bicubic baselines on the test sets (evaluate.datasets)
# through `srgan evaluate`; the super-resolved images are kept for the figures report.


rule evaluate:
    input:
        expand("results/eval/{method}.json", method=METHODS),


rule evaluate_baseline:
    input:
        data=[manifest(name) for name in EVAL_SETS],
    output:
        scores="results/eval/{method}.json",
        images=directory("results/images/{method}"),
    wildcard_constraints:
        method="nearest|bicubic",
    params:
        fingerprint=EVAL_FINGERPRINT,
        data_dir=BENCH_DIR,
        datasets=EVAL_SETS,
    threads: 1  # light resizing, then single-threaded metrics
    log:
        "logs/evaluate/{method}.log",
    conda:
        ENV
    shell:
        "srgan evaluate --method {wildcards.method} --data-dir {params.data_dir} "
        "--datasets {params.datasets} --out {output.scores} --save-images {output.images} "
        "--no-progress > {log} 2>&1"


rule evaluate_model:
    input:
        model="runs/{method}/final.pt",
        data=[manifest(name) for name in EVAL_SETS],
    output:
        scores="results/eval/{method}.json",
        images=directory("results/images/{method}"),
    wildcard_constraints:
        method=names_regex(VARIANTS),
    params:
        fingerprint=EVAL_FINGERPRINT,
        data_dir=BENCH_DIR,
        datasets=EVAL_SETS,
        device=CFG.device,
        tile=CFG.evaluate.tile,
    threads: THREADS
    resources:
        gpu=1,
    log:
        "logs/evaluate/{method}.log",
    conda:
        ENV
    shell:
        "srgan evaluate --checkpoint {input.model} --data-dir {params.data_dir} "
        "--datasets {params.datasets} --out {output.scores} --save-images {output.images} "
        "--device {params.device} --tile {params.tile} --no-progress > {log} 2>&1"
