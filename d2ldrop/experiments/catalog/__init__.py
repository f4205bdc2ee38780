"""The eight experiments, one module each: the chapter's seven exercises and MC dropout.

Each module defines ``EXPERIMENT`` (an :class:`~d2ldrop.experiments.spec.Experiment`):
its configurations (one row each), the metrics its table shows, the row the
others are compared with (paired by seed), what a run does beyond
:func:`~d2ldrop.experiments.runner.train_and_evaluate`, its analysis and its
figure. :mod:`d2ldrop.experiments.registry` collects them; ``common`` holds the
configurations, columns and wording that several of them share.
"""
