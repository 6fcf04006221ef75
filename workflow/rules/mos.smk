# The MOS study (optional, its own target `mos`, not in the default one): `srgan mos create`
# builds results/mos/study/ from the evaluated SR images (every method of evaluate.baselines
# and workflow.variants, and HR) with the settings of the `mos` section. Rating needs people,
# so the rest is by hand: `srgan mos serve`, then `srgan mos analyse` (reports/mos.html).
# The manifest is protected: once raters may have rated, Snakemake never rebuilds the study
# (`srgan mos create` also refuses a folder that holds one).


rule mos:
    input:
        str(paths.StudyFolder(paths.mos_study_dir()).manifest),


rule mos_study:
    input:
        images=[str(paths.sr_images_dir(method)) for method in METHODS],
        data=[manifest(name) for name in EVAL_SETS],
        ready=TRAIN_DATA,
    output:
        manifest=protected(str(paths.StudyFolder(paths.mos_study_dir()).manifest)),
    params:
        fingerprint=fingerprint("mos", "evaluate.datasets", "evaluate.baselines"),
        layers=LAYERS,
        study=paths.mos_study_dir(),
    log:
        str(paths.log_file("mos", "study")),
    conda:
        ENV
    shell:
        "srgan mos create --out {params.study} {params.layers} --no-progress > {log} 2>&1"
