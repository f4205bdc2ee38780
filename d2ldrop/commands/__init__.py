"""Sub-commands of the ``d2ldrop`` command line, one module each."""
