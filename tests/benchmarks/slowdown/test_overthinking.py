"""Overthinking and internal confusion (SDN, Kaya et al. 2019) on a hand-sized case, and in the slowdown record."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.slowdown.overthinking import confusion_scores, confusion_stats, overthinking

BIG = 50.0   # a logit this large makes the softmax one-hot to float precision


def _one_hot_logits(preds):
    """(K, N, 3) logits whose softmax is one-hot on ``preds[k][n]``."""
    preds = np.asarray(preds)
    out = np.zeros(preds.shape + (3,))
    for idx in np.ndindex(preds.shape):
        out[idx + (preds[idx],)] = BIG
    return out


def test_hand_sized_case_matches_the_definitions():
    # 3 exits (2 ICs + final), 4 samples, true label 0 for all
    # sample 0: right at every exit                    -> earliest correct exit 0, not destructive
    # sample 1: wrong, right, right                    -> earliest correct 1
    # sample 2: right, wrong, wrong (final wrong)      -> earliest correct 0, destructive (IC 0 right)
    # sample 3: wrong everywhere                       -> never correct, final wrong, not destructive
    preds = [[0, 1, 0, 2],
             [0, 0, 1, 2],
             [0, 0, 1, 1]]
    r = overthinking(_one_hot_logits(preds), [0, 0, 0, 0])
    assert r["exit_accuracy"] == pytest.approx([50.0, 50.0, 50.0])
    assert r["first_correct_fraction"] == pytest.approx([0.5, 0.25, 0.0])
    assert r["never_correct"] == pytest.approx(0.25)
    assert r["wasteful"] == pytest.approx(0.75)               # right before the final exit: samples 0, 1, 2
    assert r["destructive_per_exit"] == pytest.approx([0.25, 0.0, 0.0])
    assert r["destructive"] == pytest.approx(0.25)
    assert r["destructive_of_errors"] == pytest.approx(0.5)   # of the final exit's 2 mistakes (samples 2, 3), 1
    # one-hot softmaxes: the L1 distance is 2 where exit and final disagree, 0 where they agree
    # sample 0: 0+0 ; sample 1: 2 (exit 0 vs final) ; sample 2: 2 (exit 0) + 0 ; sample 3: 2 (exit 1: 2 vs 1) + 2
    assert confusion_scores(_one_hot_logits(preds)) == pytest.approx([0.0, 2.0, 2.0, 4.0])
    assert r["confusion_per_exit"] == pytest.approx([1.5, 0.5, 0.0])
    assert r["confusion"] == pytest.approx(2.0)
    assert r["confusion_correct"] == pytest.approx(1.0)       # samples 0, 1
    assert r["confusion_wrong"] == pytest.approx(3.0)         # samples 2, 3
    assert r["confusion_normalized"] is None
    normed = overthinking(_one_hot_logits(preds), [0, 0, 0, 0], normalize=(1.0, 2.0))
    assert normed["confusion_normalized"] == pytest.approx((2.0 - 1.0) / 2.0)


def test_soft_outputs_use_the_l1_distance_of_the_softmaxes():
    logits = np.log(np.array([[[0.5, 0.3, 0.2]], [[0.2, 0.3, 0.5]]]))   # 2 exits, 1 sample
    assert confusion_scores(logits) == pytest.approx([0.6])
    mean, std = confusion_stats(np.concatenate([logits, logits[:, :, ::-1]], axis=1))
    assert (mean, std) == pytest.approx((0.6, 0.0))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        overthinking(np.zeros((2, 3)), [0, 0, 0])
    with pytest.raises(ValueError):
        overthinking(np.zeros((2, 3, 4)), [0, 0])
