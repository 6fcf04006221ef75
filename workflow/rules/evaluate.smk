# Evaluation: every model and the baselines (evaluate.baselines) on the test sets
# (evaluate.datasets) through `srgan evaluate`: PSNR, SSIM and the perceptual scores of
# evaluate.perceptual; the super-resolved images are kept for the figures report. `srgan
# evaluate` takes its settings from the effective configuration (datasets, tile, device,
# perceptual scores, where the test sets are); a job reruns when its model or test sets change
# or when its `fingerprint` does (srgan.core.identity.evaluation_identity).


rule evaluate:
    input:
        [str(paths.eval_file(method)) for method in METHODS],


rule evaluate_baseline:
    input:
        data=[manifest(name) for name in EVAL_SETS],
    output:
        scores=str(paths.eval_file("{method}")),
        images=directory(str(paths.sr_images_dir("{method}"))),
    wildcard_constraints:
        method=names_regex(variants.BASELINES),
    params:
        fingerprint=EVAL_FINGERPRINT,
        layers=LAYERS,
    threads: 1  # light resizing, then single-threaded metrics
    log:
        str(paths.log_file("evaluate", "{method}")),
    conda:
        ENV
    shell:
        "srgan evaluate --method {wildcards.method} --out {output.scores} "
        "--save-images {output.images} {params.layers} --no-progress > {log} 2>&1"


rule evaluate_model:
    input:
        model=run_file("{method}"),
        data=[manifest(name) for name in EVAL_SETS],
    output:
        scores=str(paths.eval_file("{method}")),
        images=directory(str(paths.sr_images_dir("{method}"))),
    wildcard_constraints:
        method=names_regex(VARIANTS),
    params:
        fingerprint=EVAL_FINGERPRINT,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=GPUS,
    log:
        str(paths.log_file("evaluate", "{method}")),
    conda:
        ENV
    shell:
        "srgan evaluate --checkpoint {input.model} --out {output.scores} "
        "--save-images {output.images} {params.layers} --no-progress > {log} 2>&1"
