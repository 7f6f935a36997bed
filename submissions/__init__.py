"""Submissions: package a result for others (``robustperf submit``), check it (``robustperf check``), score it
olympic-style, summarize results into one table (``robustperf summarize``) and show them as a leaderboard web site
(``robustperf board``).

Torch-free, like :mod:`scaling`: this room reads records, MLPerf logs and YAML; it imports :mod:`recipes` and
:mod:`results`, never :mod:`benchmarks`. The layouts it reads and writes are fixed in the issue-23 design: the
submission folder (``submission.json``, ``systems/``, ``results/<system>/<benchmark>/run_<k>/``,
``MANIFEST.sha256``) and the summary row (:data:`submissions.summary.COLUMNS`). :mod:`submissions.summary` is the
one reader of submission folders; :mod:`submissions.score` scores their runs.
"""
