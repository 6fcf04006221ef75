# The depth study of the paper's appendix (its own target, `depth`, not in the default one):
# SRResNet-MSE with each B in workflow.depth.blocks, with and without the long skip
# connection, scored on workflow.depth.dataset; results/tables/depth.csv collects them.


rule depth:
    input:
        "results/tables/depth.csv",


rule train_depth:
    input:
        data=TRAIN_DATA,
    output:
        model="runs/depth/b{blocks}_skip{skip}/final.pt",
    wildcard_constraints:
        blocks=r"\d+",
        skip="0|1",
    params:
        fingerprint=train_fingerprint(SRGAN_INIT),
        overrides=depth_overrides,
        workdir=lambda wildcards, output: Path(output.model).parent,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=1,
    log:
        "logs/depth/train_b{blocks}_skip{skip}.log",
    benchmark:
        "results/depth/train_b{blocks}_skip{skip}.tsv"
    conda:
        ENV
    shell:
        "srgan train srresnet_mse --workdir {params.workdir} {params.layers} "
        "{params.overrides} --no-progress > {log} 2>&1"


rule evaluate_depth:
    input:
        model="runs/depth/b{blocks}_skip{skip}/final.pt",
        data=manifest(DEPTH.dataset),
    output:
        scores="results/depth/b{blocks}_skip{skip}.json",
    wildcard_constraints:
        blocks=r"\d+",
        skip="0|1",
    params:
        fingerprint=EVAL_FINGERPRINT,
        data_dir=BENCH_DIR,
        dataset=DEPTH.dataset,
        device=CFG.device,
        tile=CFG.evaluate.tile,
    threads: THREADS
    resources:
        gpu=1,
    log:
        "logs/depth/evaluate_b{blocks}_skip{skip}.log",
    conda:
        ENV
    shell:
        "srgan evaluate --checkpoint {input.model} --data-dir {params.data_dir} "
        "--datasets {params.dataset} --out {output.scores} --device {params.device} "
        "--tile {params.tile} --no-progress > {log} 2>&1"


rule depth_table:
    input:
        scores=expand("results/depth/{run}.json", run=DEPTH_RUNS),
    output:
        table="results/tables/depth.csv",
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
    log:
        "logs/depth/table.log",
    conda:
        ENV
    shell:
        # srgan tables also rewrites table1/table2 from the evaluations present (same content)
        "srgan tables --evals-dir results/eval --out-dir results/tables --depth-dir results/depth "
        "{params.layers} > {log} 2>&1"
