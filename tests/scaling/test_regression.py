"""Gradient boosting, the quantile frontier and repeats on the published table and on our records."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling.errors import InsufficientDataError
from scaling.regression import GradientBoostingAnalysis, QuantileFrontier, encode_features, olympic_mean, repeats_table
from scaling.table import collect, completed

FACTORS = ["model_parameters", "synthetic_data", "at", "at_steps", "epochs"]


@pytest.fixture(scope="module")
def gbr(published):
    return GradientBoostingAnalysis(random_state=0).fit(published[FACTORS], published["aa_robust_acc"])


def test_gbr_explains_the_published_accuracies(gbr):
    s = gbr.summary()
    assert (s["n_train"], s["n_test"]) == (223, 96)  # 70:30
    assert s["r2_test"] > 0.85 and s["cv_r2_mean"] > 0.75 and 0 < s["cv_r2_sd"] < 0.2
    assert len(s["cv_r2"]) == 5
    assert 0 < s["mae_test"] < 5
    assert sum(s["importances"].values()) == pytest.approx(1.0)
    # PGD steps decide whether training collapses: the study's dominant factor
    assert max(s["importances"], key=s["importances"].get) == "at_steps"
    assert max(s["permutation_importances"], key=lambda f: s["permutation_importances"][f]["mean"]) == "at_steps"
    assert gbr.model_.n_estimators == 50 and gbr.model_.max_depth == 5


def test_gbr_is_seeded(published, gbr):
    again = GradientBoostingAnalysis(random_state=0).fit(published[FACTORS], published["aa_robust_acc"])
    assert again.r2_test_ == gbr.r2_test_ and again.importances_ == gbr.importances_
    other = GradientBoostingAnalysis(random_state=1).fit(published[FACTORS], published["aa_robust_acc"])
    assert other.r2_test_ != gbr.r2_test_


def test_ordinal_encoding_keeps_one_column_per_factor():
    frame = pd.DataFrame({"loss": ["trades", "at", "at"], "ema": [None, 0.995, None], "steps": [1, 2, 5],
                          "syn": [True, False, True]})
    X, levels = encode_features(frame)
    assert X.shape == (3, 4)
    assert levels["loss"] == ["at", "trades"] and list(X[:, 0]) == [1, 0, 0]
    assert levels["ema"] == ["0.995", "<none>"] and list(X[:, 1]) == [1, 0, 1]  # no EMA is its own level
    assert list(X[:, 2]) == [1, 2, 5] and "steps" not in levels
    assert levels["syn"] == ["False", "True"]


def test_gbr_needs_enough_rows(published):
    with pytest.raises(InsufficientDataError, match="gradient boosting: needs at least 10"):
        GradientBoostingAnalysis().fit(published[FACTORS].head(8), published["aa_robust_acc"].head(8))
    with pytest.raises(InsufficientDataError, match="--feature"):
        GradientBoostingAnalysis().fit(published[[]], published["aa_robust_acc"])


def test_quantile_frontier_sits_at_the_ninetieth_percentile(published):
    alive = published[published["aa_robust_acc"] > 0]
    x = alive["train_flops"] * alive["epochs"]
    q = QuantileFrontier(q=0.9).fit(x, alive["aa_robust_acc"])
    assert q.share_below_ == pytest.approx(0.9, abs=0.02)
    assert q.slope_ci_[0] < q.slope_ < q.slope_ci_[1]
    q5 = QuantileFrontier(q=0.5).fit(x, alive["aa_robust_acc"])
    assert np.all(q.predict([1e6, 1e7]) > q5.predict([1e6, 1e7]))


def test_olympic_mean_drops_best_and_worst():
    assert olympic_mean([1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.5)
    assert olympic_mean([5.0, 1.0, 9.0]) == 5.0
    assert np.isnan(olympic_mean([1.0, 2.0]))


def test_repeats_group_seeds_of_a_configuration(clean_results_dir):
    table = completed(collect(str(clean_results_dir))[0])
    group = [c for c in table.columns if c.startswith("config.") and c != "config.seed"]
    reps = repeats_table(table, group, table["accuracy.autoattack"])
    assert len(reps) == 96 and set(reps["n"]) == {3}
    first = table[(table["config.model.width"] == 2) & (table["config.training.loss"] == "trades")
                  & (table["config.attack.steps"] == 5) & (table["config.data.synthetic_fraction"] == 0.7)
                  & table["config.training.ema_decay"].isna()]["accuracy.autoattack"]
    row = reps[(reps["config.model.width"] == 2) & (reps["config.training.loss"] == "trades")
               & (reps["config.attack.steps"] == 5) & (reps["config.data.synthetic_fraction"] == 0.7)
               & reps["config.training.ema_decay"].isna()].iloc[0]
    assert row["mean"] == pytest.approx(first.mean()) and row["sd"] == pytest.approx(first.std())
    assert row["olympic_mean"] == pytest.approx(first.median())  # 3 runs: the middle one
