# Data: every image set ends as a folder of HR images plus data/checksums/<set>.sha256, the
# manifest the other rules depend on. With data.mirror set, the sets are read from the mirror
# (checked against its SHA256SUMS) and nothing is downloaded; otherwise they are downloaded
# from their canonical URLs with published checksums (srgan.datasets), made from the
# photographs bundled with scikit-image (the offline demo), or linked from a local ImageNet.


rule data:
    input:
        [manifest(name) for name in TEST_SETS],
        manifest(TRAIN_SET),


if MIRROR:

    rule mirror_benchmark:
        input:
            sums=[path for path in [Path(MIRROR, datasets.MIRROR_SUMS)] if path.is_file()],
        output:
            manifest=f"{DATA}/checksums/{{name}}.sha256",
        wildcard_constraints:
            name=names_regex(TEST_SETS),
        params:
            mirror=lambda wildcards: MIRROR,
        log:
            "logs/data/mirror_{name}.log",
        conda:
            ENV
        shell:
            "srgan data mirror benchmarks/{wildcards.name} --mirror {params.mirror} "
            "--manifest {output.manifest} > {log} 2>&1"

    rule mirror_train:
        input:
            sums=[path for path in [Path(MIRROR, datasets.MIRROR_SUMS)] if path.is_file()],
        output:
            manifest=f"{DATA}/checksums/{{name}}.sha256",
        wildcard_constraints:
            name=names_regex([TRAIN_SET] if TRAIN_SET in datasets.MIRROR_TRAIN_SETS else []),
        params:
            mirror=lambda wildcards: MIRROR,
        log:
            "logs/data/mirror_{name}.log",
        conda:
            ENV
        shell:
            "srgan data mirror train/{wildcards.name} --mirror {params.mirror} "
            "--manifest {output.manifest} > {log} 2>&1"

else:

    rule download:
        output:
            archive=temp(f"{DATA}/downloads/{{filename}}"),
        wildcard_constraints:
            filename=names_regex(datasets.DOWNLOADS),
        log:
            "logs/data/download_{filename}.log",
        conda:
            ENV
        shell:
            # the progress bar goes to the terminal and the log
            "srgan data download {wildcards.filename} --out {output.archive} 2>&1 | tee {log}"

    rule fetch_benchmark:
        input:
            archive=lambda w: f"{DATA}/downloads/{datasets.BENCHMARK_SETS[w.name].download.filename}",
        output:
            images=directory(f"{DATA}/benchmarks/{{name}}"),
            manifest=f"{DATA}/checksums/{{name}}.sha256",
        wildcard_constraints:
            name=names_regex(datasets.BENCHMARK_SETS),
        log:
            "logs/data/extract_{name}.log",
        conda:
            ENV
        shell:
            "srgan data extract {wildcards.name} --archive {input.archive} "
            "--out {output.images} --manifest {output.manifest} > {log} 2>&1"

    rule fetch_train:
        input:
            archive=lambda w: f"{DATA}/downloads/{datasets.TRAIN_SETS[w.name].download.filename}",
        output:
            images=directory(f"{DATA}/train/{{name}}"),
            manifest=f"{DATA}/checksums/{{name}}.sha256",
        wildcard_constraints:
            name=names_regex(datasets.TRAIN_SETS),
        log:
            "logs/data/extract_{name}.log",
        conda:
            ENV
        shell:
            "srgan data extract {wildcards.name} --archive {input.archive} "
            "--out {output.images} --manifest {output.manifest} > {log} 2>&1"

    rule bundled_benchmark:
        output:
            images=directory(f"{DATA}/benchmarks/{{name}}"),
            manifest=f"{DATA}/checksums/{{name}}.sha256",
        wildcard_constraints:
            name=names_regex([datasets.sample_data.TEST_SET_NAME]),
        log:
            "logs/data/bundled_{name}.log",
        conda:
            ENV
        shell:
            "srgan data bundled {wildcards.name} --out {output.images} "
            "--manifest {output.manifest} > {log} 2>&1"


rule bundled_train:
    output:
        images=directory(f"{DATA}/train/{{name}}"),
        manifest=f"{DATA}/checksums/{{name}}.sha256",
    wildcard_constraints:
        name=names_regex([datasets.sample_data.TRAIN_SET_NAME]),
    log:
        "logs/data/bundled_{name}.log",
    conda:
        ENV
    shell:
        "srgan data bundled {wildcards.name} --out {output.images} "
        "--manifest {output.manifest} > {log} 2>&1"


if TRAIN_SET == datasets.IMAGENET:

    rule imagenet_subset:
        output:
            images=directory(TRAIN_DIR),
            manifest=manifest(datasets.IMAGENET),
        params:
            imagenet_dir=lambda wildcards: CFG.data.imagenet_dir,
            samples=CFG.data.imagenet_samples,
            seed=CFG.seed,
        log:
            "logs/data/imagenet_subset.log",
        conda:
            ENV
        shell:
            "srgan data imagenet --imagenet-dir {params.imagenet_dir} --samples {params.samples} "
            "--seed {params.seed} --out {output.images} --manifest {output.manifest} > {log} 2>&1"


if TRAIN_SET == datasets.FOLDER:

    rule train_folder:
        output:
            manifest=manifest(datasets.FOLDER),
        params:
            folder=lambda wildcards: TRAIN_DIR,
        log:
            "logs/data/train_folder.log",
        conda:
            ENV
        shell:
            "srgan data manifest {params.folder} --manifest {output.manifest} > {log} 2>&1"
