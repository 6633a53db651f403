"""Shared test models (plain torch, no torchvision/transformers).

Every module here has a ``build(...)`` factory usable as ``tests/models/<name>.py:build``.
Factories allocate parameters on the current default device, so calling them under
``with torch.device("meta"):`` allocates no weights (that is how mlcost calls them).
"""
