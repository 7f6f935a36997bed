"""The envelope figure shows the law's rise: a linear accuracy axis by default (issue 12), log-log on request."""
from __future__ import annotations

import numpy as np

from scaling.laws import EnvelopePowerLaw
from scaling.plotting import plot_envelope


def _law():
    rng = np.random.RandomState(0)
    x = np.logspace(14, 20, 60)
    y = 0.5 * x ** 0.1 * rng.uniform(0.3, 1.0, x.size)  # accuracies from ~0.01 % scale up to ~50 %
    y[:3] = [0.01, 0.02, 0.05]
    return EnvelopePowerLaw(19).fit(x, y), x, y


def test_default_accuracy_axis_is_linear_from_zero():
    law, x, y = _law()
    ax = plot_envelope(law, x, y).axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    bottom, top = ax.get_ylim()
    assert bottom == 0.0 and max(y) <= top <= 100.0
    # the fitted curve rises visibly over the axis: from its lowest to its highest point it spans > 1/3 of it
    curve = ax.lines[1].get_ydata()
    assert (curve.max() - curve.min()) / (top - bottom) > 1 / 3


def test_log_axis_on_request():
    law, x, y = _law()
    ax = plot_envelope(law, x, y, yscale="log").axes[0]
    assert ax.get_yscale() == "log"
