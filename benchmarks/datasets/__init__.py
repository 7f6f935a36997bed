"""Datasets: one registry (the ``datasets`` plug-ins of :mod:`recipes.catalog`, declared in :mod:`.catalog`)."""
