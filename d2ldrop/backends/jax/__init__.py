"""The JAX backend: everything d2ldrop knows about JAX, in one folder.

- ``adapter.py``: the adapter (imports JAX; loaded on first use by
  :func:`d2ldrop.backends.registry.load_adapter_module`).
- ``quirks.py``: where JAX's own dropout differs from the chapter's
  (data; imports no framework).

Importing this package imports no framework.
"""
