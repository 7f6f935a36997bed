"""The benchmark definitions shipped with the suite: one YAML file per benchmark (package data), registered as
plug-ins of kind ``benchmarks`` by :mod:`recipes.benchmarks.catalog` and read by :mod:`recipes.benchmark`."""
