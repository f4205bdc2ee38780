"""Dropouts for the conformance suite to check: correct ones, which must pass, and
deliberately broken ones, each of which must fail on the check that names its bug
(tests/test_target.py, tests/test_plugin.py)."""
