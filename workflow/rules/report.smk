# Tables and reports: Tables 1 and 2 as CSV and JSON (the JSON files are DVC metrics), the
# report notebooks executed with papermill (reports/<name>.ipynb and .html), and
# reports/index.html linking everything with the headline numbers on top.


rule tables:
    input:
        multiext("results/tables/table1", ".csv", ".json"),
        multiext("results/tables/table2", ".csv", ".json"),


rule reports:
    input:
        expand("reports/{name}.html", name=["table1", "table2", "figures"]),
        "reports/index.html",


rule build_tables:
    input:
        scores=expand("results/eval/{method}.json", method=METHODS),
    output:
        table1=multiext("results/tables/table1", ".csv", ".json"),
        table2=multiext("results/tables/table2", ".csv", ".json"),
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
    log:
        "logs/report/tables.log",
    conda:
        ENV
    shell:
        "srgan tables --evals-dir results/eval --out-dir results/tables {params.layers} "
        "> {log} 2>&1"


rule report_table:
    input:
        table=multiext("results/tables/{name}", ".csv", ".json"),
    output:
        notebook="reports/{name}.ipynb",
        html="reports/{name}.html",
    wildcard_constraints:
        name="table1|table2",
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
    log:
        "logs/report/{name}.log",
    conda:
        ENV
    shell:
        "srgan report {wildcards.name} --out-dir reports {params.layers} > {log} 2>&1"


rule report_figures:
    input:
        scores=expand("results/eval/{method}.json", method=METHODS),
        models=expand("runs/{variant}/final.pt", variant=VARIANTS),
        times=expand("results/benchmarks/train_{variant}.tsv", variant=VARIANTS),
        tables=multiext("results/tables/table1", ".csv", ".json"),
    output:
        notebook="reports/figures.ipynb",
        html="reports/figures.html",
        figures=directory("reports/figures"),
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
    log:
        "logs/report/figures.log",
    conda:
        ENV
    shell:
        "srgan report figures --out-dir reports {params.layers} > {log} 2>&1"


rule report_index:
    input:
        pages=expand("reports/{name}.html", name=["table1", "table2", "figures"]),
        tables=multiext("results/tables/table2", ".csv", ".json"),
    output:
        index="reports/index.html",
    params:
        fingerprint=REPORT_FINGERPRINT,
        layers=LAYERS,
    log:
        "logs/report/index.log",
    conda:
        ENV
    shell:
        "srgan index --reports-dir reports --tables-dir results/tables {params.layers} "
        "> {log} 2>&1"
