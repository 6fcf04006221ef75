# Evaluation: every model and the baselines (evaluate.baselines) on the test sets
# (evaluate.datasets) through `srgan evaluate`: PSNR, SSIM and the perceptual scores of
# evaluate.perceptual; the super-resolved images are kept for the figures report.


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
        data_dir=TEST_DIR,
        datasets=EVAL_SETS,
    threads: 1  # light resizing, then single-threaded metrics
    log:
        str(paths.log_file("evaluate", "{method}")),
    conda:
        ENV
    shell:
        "srgan evaluate --method {wildcards.method} --data-dir {params.data_dir} "
        "--datasets {params.datasets} --out {output.scores} --save-images {output.images} "
        "{params.layers} --no-progress > {log} 2>&1"


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
        data_dir=TEST_DIR,
        datasets=EVAL_SETS,
        device=CFG.device,
        tile=CFG.evaluate.tile,
    threads: THREADS
    resources:
        gpu=GPUS,
    log:
        str(paths.log_file("evaluate", "{method}")),
    conda:
        ENV
    shell:
        "srgan evaluate --checkpoint {input.model} --data-dir {params.data_dir} "
        "--datasets {params.datasets} --out {output.scores} --save-images {output.images} "
        "--device {params.device} --tile {params.tile} {params.layers} --no-progress > {log} 2>&1"
