"""README.md's recipe reference is generated from the schema; this keeps the two identical."""
from __future__ import annotations

from recipes.reference import BEGIN, END, render


def test_readme_embeds_the_current_recipe_reference(repo_root):
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme, "README.md lost its recipe-reference markers"
    embedded = readme[readme.index(BEGIN):readme.index(END) + len(END)]
    assert embedded == render(), "README.md is stale: paste the output of `python -m recipes.reference`"


def test_reference_lists_every_fixed_key():
    text = render()
    for key in ("seed", "data.synthetic_fraction", "training.ema_decay", "attack.eps", "evaluation.autoattack_n",
                "measurement.kg_co2_per_kwh", "tracking.wandb", "launch.max_parallel"):
        assert f"| `{key}` |" in text
