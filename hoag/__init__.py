"""hoag: hyperparameter optimization with approximate gradient."""
