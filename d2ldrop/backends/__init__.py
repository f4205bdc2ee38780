"""One adapter module per framework; framework code lives only here.

Each module defines ``Adapter``, a subclass of :class:`d2ldrop.backends.base.Adapter`
with the same method names, and imports its framework at module level, so the
framework is imported when the backend is first used (see ``d2ldrop._backend``).
"""
