"""The PyTorch backend: everything d2ldrop knows about PyTorch, in one folder.

- ``adapter.py``: the adapter (imports PyTorch; loaded on first use by
  :func:`d2ldrop.backends.registry.load_adapter_module`).
- ``quirks.py``: where PyTorch's own dropout differs from the chapter's
  (data; imports no framework).

Importing this package imports no framework.
"""
