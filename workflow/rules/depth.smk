# The depth study of the paper's appendix (its own target, `depth`, not in the default one):
# variants.DEPTH_STUDY (SRResNet-MSE) with each B in workflow.depth.blocks, with and without the
# long skip connection, scored on workflow.depth.dataset; results/tables/depth.csv collects them.


rule depth:
    input:
        str(paths.table_file("depth", ".csv")),
        [str(paths.identity_file(run, paths.DEPTH_IDENTITY_DIR)) for run in DEPTH_RUNS],


rule depth_identity:
    output:
        str(paths.identity_file(DEPTH_RUN_PATTERN, paths.DEPTH_IDENTITY_DIR)),
    wildcard_constraints:
        blocks=r"\d+",
        skip="0|1",
    params:
        trigger=depth_trigger,
    log:
        str(paths.log_file("depth", "identity_b{blocks}_skip{skip}")),
    conda:
        ENV
    shell:
        "echo {params.trigger:q} > {output} 2> {log}"


rule train_depth:
    input:
        data=TRAIN_DATA,
        identity=str(paths.identity_file(DEPTH_RUN_PATTERN, paths.DEPTH_IDENTITY_DIR)),
    output:
        model=depth_run_file(paths.depth_run_name("{blocks}", "{skip}")),
        metadata=depth_run_file(paths.depth_run_name("{blocks}", "{skip}"), "metadata"),
    wildcard_constraints:
        blocks=r"\d+",
        skip="0|1",
    params:
        trigger=depth_trigger,
        variant=variants.DEPTH_STUDY,
        overrides=depth_overrides,
        workdir=lambda wildcards, output: Path(output.model).parent,
        layers=LAYERS,
    threads: THREADS
    resources:
        gpu=GPUS,
        runtime=depth_runtime,
    log:
        str(paths.log_file("depth", "train_b{blocks}_skip{skip}")),
    benchmark:
        str(paths.train_timing(DEPTH_RUN_PATTERN, paths.DEPTH_TIMINGS_DIR))
    conda:
        ENV
    shell:
        "srgan train {params.variant} --workdir {params.workdir} {params.layers} "
        "{params.overrides} --no-progress > {log} 2>&1"


rule evaluate_depth:
    input:
        model=depth_run_file(paths.depth_run_name("{blocks}", "{skip}")),
        data=manifest(DEPTH.dataset),
    output:
        scores=str(paths.depth_eval_file(paths.depth_run_name("{blocks}", "{skip}"))),
    wildcard_constraints:
        blocks=r"\d+",
        skip="0|1",
    params:
        fingerprint=DEPTH_EVAL_FINGERPRINT,
        layers=LAYERS,
        depth=DEPTH_EVALUATION,
    threads: THREADS
    resources:
        gpu=GPUS,
    log:
        str(paths.log_file("depth", "evaluate_b{blocks}_skip{skip}")),
    conda:
        ENV
    shell:
        "srgan evaluate --checkpoint {input.model} --out {output.scores} {params.layers} "
        "{params.depth} --no-progress > {log} 2>&1"


rule depth_table:
    input:
        scores=[str(paths.depth_eval_file(run)) for run in DEPTH_RUNS],
    output:
        table=str(paths.table_file("depth", ".csv")),
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
        evals=paths.EVALS_DIR,
        tables=paths.TABLES_DIR,
        depth=paths.DEPTH_RESULTS_DIR,
    log:
        str(paths.log_file("depth", "table")),
    conda:
        ENV
    shell:
        # srgan tables also rewrites table1/table2 from the evaluations present (same content)
        "srgan tables --evals-dir {params.evals} --out-dir {params.tables} "
        "--depth-dir {params.depth} {params.layers} > {log} 2>&1"
