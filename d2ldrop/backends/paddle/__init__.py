"""The PaddlePaddle backend: everything d2ldrop knows about Paddle, in one folder.

- ``adapter.py``: the adapter (imports Paddle; loaded on first use by
  :func:`d2ldrop.backends.registry.load_adapter_module`).
- ``quirks.py``: where Paddle's own dropout differs from the chapter's
  (data; imports no framework).
- ``loader.py``: imports Paddle without its side effects on the process's
  environment.

Importing this package imports no framework.
"""
