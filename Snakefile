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
# with --config set="data.mirror=/path/to/mirror train.srgan.lr=1e-5" (dotted keys; YAML
# values). The merged result is validated against workflow/schemas/config.schema.yaml before
# any job starts (a wrong key or value stops the run with a message naming it), and the data
# sources are checked (srgan.data.acquire.check_sources).
#
# How a job gets the configuration: it is merged once, here (workflow/rules/common.smk), and
# written to results/config.yaml when the run starts; every job reads that file (`srgan ...
# --params results/config.yaml`), so each computes with exactly the configuration the DAG was
# built from. What reruns a job is its `trigger` or `fingerprint` param: the JSON of only what
# that job depends on (a training job: its variant's run identity and schedule length,
# srgan.core.identity.rerun_trigger; an evaluation: srgan.core.identity.evaluation_identity;
# tables and reports: everything, they are cheap). So `dvc exp run -S train.srgan.lr=1e-5`
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


onstart:
    # Every job reads the configuration the DAG was built from, merged once (common.smk).
    write_effective(EFFECTIVE, paths.EFFECTIVE_CONFIG)


rule all:
    default_target: True
    input:
        rules.tables.input,
        rules.train.input,
        rules.reports.input,
