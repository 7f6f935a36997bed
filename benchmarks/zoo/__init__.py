"""RobustBench's model zoo in the suite: training cards' cost estimates (:mod:`.estimate`, ``robustperf zoo
cost``)."""
