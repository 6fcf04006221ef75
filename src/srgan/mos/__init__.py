"""The MOS study kit: rerun the paper's mean opinion score test on our models.

* ``study``: ``srgan mos create`` builds a study from the workflow's SR images (stimuli under
  opaque ids, calibration anchors, attention items, a seeded order per rater, a manifest);
* ``store``: the study's SQLite database (WAL): the plan and every rating, committed at once;
* ``server``: ``srgan mos serve``: a study opened for serving, its socket, start and stop;
* ``pages``: the blind rating page and the operator page (tornado's routes and handlers);
* ``limits``: the server's limits: body size, timeouts, connection caps, the security headers
  on every answer, refusals and the operator's log;
* ``analysis`` and ``screening``: ``srgan mos analyse`` and ``notebooks/mos.py``: MOS with
  confidence intervals, Wilcoxon signed-rank tests with Holm's correction, the paper's
  values beside ours, rater screening, histograms, power;
* ``formatting``: the study's numbers as the report and ``srgan mos analyse`` print them.

Layering: these modules use the package below them (paths, config, paper, evaluation,
image, report, fileio); only ``srgan.cli`` and the report notebook import them.
"""
