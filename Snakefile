# The srgan-repro workflow: data -> five trained models -> evaluations -> Tables 1 and 2 ->
# report notebooks. Rules only call the `srgan` command line; the stages are in
# workflow/rules/*.smk. Snakemake owns the DAG; dvc.yaml runs its targets.
#
#   snakemake --cores 8 --resources gpu=1        the paper (params.yaml); default target `all`
#   snakemake -n                                 dry run: list every job
#   snakemake --configfile config/demo.yaml      the offline CPU demo (`make demo`)
#   snakemake depth                              the depth study (not in `all`)
#   snakemake mos                                a MOS study to rate (not in `all`)
#   targets: all, data, train, evaluate, tables, reports, depth, mos
#
# Configuration. params.yaml is Snakemake's configfile and DVC's params file. Profiles are
# laid over it with --configfile (config/demo.yaml, config/demo_mirror.yaml), single keys
# with --config set="data.mirror=../shared/data train.srgan.lr=1e-5" (dotted keys; YAML
# values). The merged result is validated against workflow/schemas/config.schema.yaml before
# any job starts (a wrong key or value stops the run with a message naming it), and the data
# sources are checked (srgan.datasets.check_sources).
#
# How a job gets the configuration: every rule passes `{params.layers}`, the same layers
# Snakemake merged (--params params.yaml --config <each --configfile> --set <each pair>), and
# `srgan` merges them with the same function (srgan.core.config.merged_config_dict). So each job
# computes exactly the configuration the DAG was built from, and its command line says where
# it came from. What reruns a job is its `params.fingerprint`: the JSON of only the config keys
# that job depends on (a training job: its variant's keys, see common.smk; an evaluation: scale,
# datasets, tile; tables and reports: everything, they are cheap). `layers` itself is not part
# of Snakemake's rerun check (it is not a plain str), so `dvc exp run -S train.srgan.lr=1e-5`
# retrains only the three SRGAN variants, and a report option retrains nothing.
#
# Resources: training and model evaluation ask for `gpu=1` (none when the device is the CPU);
# with `--resources gpu=1` (the default profile, workflow/profiles/default) they run one at a
# time. With `--resources gpu=N` on a machine with N GPUs, N run at once, each `srgan` job on
# its own GPU (it takes a free one before touching CUDA: srgan.core.gpuslots).
# On a SLURM cluster: `snakemake --workflow-profile workflow/profiles/slurm` (docs/cluster.md);
# the jobs below run on the machine running Snakemake, the rest as SLURM jobs.
# An interrupted training job resumes from runs/<variant>/checkpoints/ when rerun (after a
# hard kill: `snakemake --unlock`, then the same command; the profile sets --rerun-incomplete).

configfile: "params.yaml"


# Jobs that run where Snakemake runs, never as cluster jobs: writing a line, collecting
# tables, the index page (a cluster job costs more to start than these take), and downloads
# (a cluster's compute nodes often have no network; the archives are extracted by cluster jobs).
localrules:
    train_identity,
    depth_identity,
    data_ready,
    download,
    build_tables,
    depth_table,
    report_index,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/depth.smk"
include: "workflow/rules/mos.smk"


rule all:
    default_target: True
    input:
        rules.tables.input,
        rules.train.input,
        rules.reports.input,
