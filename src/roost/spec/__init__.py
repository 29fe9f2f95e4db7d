"""The spec: its model (model.py), how it is loaded (load.py) and the files beside it (beside.py).

Nothing is imported here: the converged fast path reads spec files without loading the model."""
