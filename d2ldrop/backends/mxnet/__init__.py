"""The MXNet backend: everything d2ldrop knows about MXNet, in one folder.

- ``adapter.py``: the adapter (imports MXNet; loaded on first use by
  :func:`d2ldrop.backends.registry.load_adapter_module`).
- ``quirks.py``: where MXNet's own dropout differs from the chapter's
  (data; imports no framework).
- ``loader.py``: imports MXNet without its OpenMP side effect, and explains
  why it failed to load.

Importing this package imports no framework.
"""
