"""The TensorFlow backend: everything d2ldrop knows about TensorFlow, in one folder.

- ``adapter.py``: the adapter (imports TensorFlow; loaded on first use by
  :func:`d2ldrop.backends.registry.load_adapter_module`).
- ``quirks.py``: where TensorFlow's own dropout differs from the chapter's
  (data; imports no framework).

Importing this package imports no framework.
"""
