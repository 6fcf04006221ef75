"""The MOS study kit: rerun the paper's mean opinion score test on our models.

* ``study``: ``srgan mos create`` builds a study from the workflow's SR images (stimuli under
  opaque ids, calibration anchors, attention items, a seeded order per rater, a manifest);
* ``store``: the study's SQLite database (WAL): the plan and every rating, committed at once;
* ``server``: ``srgan mos serve``, the blind rating page and the operator page (tornado);
* ``analysis`` and ``screening``: ``srgan mos analyse`` and ``notebooks/mos.py``: MOS with
  confidence intervals, Wilcoxon signed-rank tests with Holm's correction, the paper's
  values beside ours, rater screening, histograms, power;
* ``commands``: the ``srgan mos`` subcommands' arguments (wired from ``srgan.cli.main``).

Layering: these modules use the package below them (paths, config, paper, evaluation,
imageops, render, fileio); only ``srgan.cli.main`` and the report notebook import them.
"""
