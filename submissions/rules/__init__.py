"""The suite's ruleset for MLPerf's official log checker (``python -m mlperf_logging.compliance_checker --config
<this folder>/common.yaml mllog.txt``): package data, read by :mod:`submissions.compliance`."""
