# Data: every image set ends as a folder of HR images plus data/checksums/<set>.sha256, the
# manifest the other rules depend on. With data.mirror set, the sets are read from the mirror
# (checked against its SHA256SUMS) and nothing is downloaded; otherwise they are downloaded
# from their canonical URLs with published checksums (srgan.data.acquire, srgan.data.download), made from
# the photographs bundled with scikit-image (the offline demo), or linked from a local ImageNet.
# Every path comes from srgan.paths.


rule data:
    input:
        [manifest(name) for name in TEST_SETS],
        manifest(TRAIN_SET),
        DATA_READY,


rule data_ready:
    input:
        [manifest(name) for name in TEST_SETS],
        manifest(TRAIN_SET),
    output:
        touch(DATA_READY),


if MIRROR:

    rule mirror_benchmark:
        input:
            sums=[path for path in [Path(MIRROR, datasets.MIRROR_SUMS)] if path.is_file()],
        output:
            manifest=manifest("{name}"),
        wildcard_constraints:
            name=names_regex(TEST_SETS),
        params:
            mirror=lambda wildcards: MIRROR,
        log:
            str(paths.log_file("data", "mirror_{name}")),
        conda:
            ENV
        shell:
            f"srgan data mirror {datasets.MIRROR_TEST_DIR}/{{wildcards.name}} --mirror {{params.mirror}} "
            "--manifest {output.manifest} > {log} 2>&1"

    rule mirror_train:
        input:
            sums=[path for path in [Path(MIRROR, datasets.MIRROR_SUMS)] if path.is_file()],
        output:
            manifest=manifest("{name}"),
        wildcard_constraints:
            name=names_regex([TRAIN_SET] if TRAIN_SET in datasets.MIRROR_TRAIN_SETS else []),
        params:
            mirror=lambda wildcards: MIRROR,
        log:
            str(paths.log_file("data", "mirror_{name}")),
        conda:
            ENV
        shell:
            f"srgan data mirror {datasets.MIRROR_TRAIN_DIR}/{{wildcards.name}} --mirror {{params.mirror}} "
            "--manifest {output.manifest} > {log} 2>&1"

else:

    rule download:
        output:
            archive=temp(str(paths.download_file(CFG, "{filename}"))),
        wildcard_constraints:
            filename=names_regex(datasets.DOWNLOADS),
        log:
            str(paths.log_file("data", "download_{filename}")),
        conda:
            ENV
        shell:
            # the progress bar goes to the terminal and the log
            "srgan data download {wildcards.filename} --out {output.archive} 2>&1 | tee {log}"

    rule fetch_benchmark:
        input:
            archive=lambda w: paths.download_file(CFG, datasets.TEST_SETS[w.name].download.filename),
        output:
            images=directory(str(paths.fetched_test_sets_dir(CFG) / "{name}")),
            manifest=manifest("{name}"),
        wildcard_constraints:
            name=names_regex(datasets.TEST_SETS),
        log:
            str(paths.log_file("data", "extract_{name}")),
        conda:
            ENV
        shell:
            "srgan data extract {wildcards.name} --archive {input.archive} "
            "--out {output.images} --manifest {output.manifest} > {log} 2>&1"

    rule fetch_train:
        input:
            archive=lambda w: paths.download_file(CFG, datasets.TRAIN_SETS[w.name].download.filename),
        output:
            images=directory(str(paths.fetched_train_sets_dir(CFG) / "{name}")),
            manifest=manifest("{name}"),
        wildcard_constraints:
            name=names_regex(datasets.TRAIN_SETS),
        log:
            str(paths.log_file("data", "extract_{name}")),
        conda:
            ENV
        shell:
            "srgan data extract {wildcards.name} --archive {input.archive} "
            "--out {output.images} --manifest {output.manifest} > {log} 2>&1"

    rule bundled_benchmark:
        output:
            images=directory(str(paths.fetched_test_sets_dir(CFG) / "{name}")),
            manifest=manifest("{name}"),
        wildcard_constraints:
            name=names_regex([datasets.BUNDLED_TEST_SET]),
        log:
            str(paths.log_file("data", "bundled_{name}")),
        conda:
            ENV
        shell:
            "srgan data bundled {wildcards.name} --out {output.images} "
            "--manifest {output.manifest} > {log} 2>&1"


rule bundled_train:
    output:
        images=directory(str(paths.fetched_train_sets_dir(CFG) / "{name}")),
        manifest=manifest("{name}"),
    wildcard_constraints:
        name=names_regex([datasets.BUNDLED_TRAIN_SET]),
    log:
        str(paths.log_file("data", "bundled_{name}")),
    conda:
        ENV
    shell:
        "srgan data bundled {wildcards.name} --out {output.images} "
        "--manifest {output.manifest} > {log} 2>&1"


if TRAIN_SET == datasets.TRAIN_SET_IMAGENET:

    rule imagenet_subset:
        output:
            images=directory(TRAIN_DIR),
            manifest=manifest(datasets.TRAIN_SET_IMAGENET),
        params:
            imagenet_dir=lambda wildcards: CFG.data.imagenet_dir,
            samples=CFG.data.imagenet_samples,
            seed=CFG.seed,
        log:
            str(paths.log_file("data", "imagenet_subset")),
        conda:
            ENV
        shell:
            "srgan data imagenet --imagenet-dir {params.imagenet_dir} --samples {params.samples} "
            "--seed {params.seed} --out {output.images} --manifest {output.manifest} > {log} 2>&1"


if TRAIN_SET == datasets.TRAIN_SET_FOLDER:

    rule train_folder:
        output:
            manifest=manifest(datasets.TRAIN_SET_FOLDER),
        params:
            folder=lambda wildcards: TRAIN_DIR,
        log:
            str(paths.log_file("data", "train_folder")),
        conda:
            ENV
        shell:
            "srgan data manifest {params.folder} --manifest {output.manifest} > {log} 2>&1"
