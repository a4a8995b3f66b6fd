"""Settings modules: ``base`` (shared), ``development``, ``test`` and ``production``.

Everything that differs between machines comes from the environment (django-environ);
``production`` refuses to start without its secrets instead of using a default.
"""
