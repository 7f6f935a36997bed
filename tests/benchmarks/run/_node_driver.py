"""What torchrun starts on each "node" of the multi-node tests: the tests' fake power source registered as the
meter ``fake`` (the one stand-in for the GPU meters this host lacks), each node drawing its own known power
(:data:`NODE_WATTS`, by torchrun's ``GROUP_RANK``), then ``robustperf`` itself with the given arguments."""
from __future__ import annotations

import os
import sys

from tests.benchmarks._fake_power import LinearPower, install

#: watts drawn by the one device of node 0, node 1, ...
NODE_WATTS = (100.0, 1000.0, 10000.0)


def main() -> int:
    node = int(os.environ.get("GROUP_RANK", "0"))
    install(lambda devices, cfg, clock: LinearPower(clock, 1, NODE_WATTS[node]))
    import robustperf

    return robustperf.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
