"""Re-running published cells: ``bench verify`` and the cell-by-cell comparison it (and
``bench export --replace``) rests on."""
