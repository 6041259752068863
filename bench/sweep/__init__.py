"""What a sweep runs, and where.

Parent process (the ``bench run`` command):
- ``plan``: names resolved, datasets checked, the cells listed (imports no booster);
- ``driver``: stores prepared, cells handed to an executor, busy cells retried, summary;
- ``progress``: the live bar or log lines, and the end-of-sweep summary table.

Shared by parent and workers:
- ``cells``: the cell, its key and context, its result, the progress events;
- ``executors``: where cells run (inline, local processes, Dask; the place for Slurm or Ray).

Worker side (a process that runs cells):
- ``cell``: one cell run: claim, tune, refit, score, log;
- ``protocol``: the nested cross-validation's splits and seeds;
- ``studies``: Optuna storages and studies with exact trial budgets.

Importing this package (or the planner) loads no booster and no scikit-learn.
"""
