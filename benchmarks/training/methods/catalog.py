"""The built-in training methods (``training.loss``), declared once: name, code, run-name part, keys read.

Torch-free: the schema, the run identity and ``robustperf plugins`` read these facts without importing the
methods (see :mod:`recipes.catalog`). Each entry is registered under the ``robustperf.methods`` entry-point
group in the project's ``setup.cfg``, as another package registers its own. ``reads`` lists the keys a method
reads beyond ``attack.norm`` and ``attack.eps`` (which every method's per-epoch check reads): a PGD-based method
reads ``attack.steps`` and ``attack.step_size``, and ``attack.random_start`` where its attack starts where that key
says (TRADES and MART start at x + 0.001 N(0, I), fgsm_rs always from a uniform point and takes one step of
``training.fgsm_alpha`` x eps whatever ``attack.steps`` says; n_fgsm from uniform noise of ``training.nfgsm_noise``
x eps with one step of ``training.nfgsm_alpha`` x eps, unprojected unless ``training.nfgsm_clip`` is set; free replays each batch ``attack.steps`` times with
a step of ``attack.step_size`` or eps, its perturbation starting at zero); ``training.awp_gamma`` where
adversarial weight perturbation is an option. The per-epoch check's ``training.select_*`` keys are every method's.
"""
from recipes.catalog import MethodEntry

_PGD = ("attack.steps", "attack.step_size", "attack.random_start")
_ITERATIVE = ("attack.steps", "attack.step_size")
_IC_PHASE = ("training.sdn_ic_epochs", "training.sdn_ic_lr", "training.sdn_ic_milestone")
_M = "benchmarks.training.methods"

STANDARD = MethodEntry(
    name="standard", impl=f"{_M}.standard:Standard", doc="natural training, no attack (the cost baseline)")
AT = MethodEntry(
    name="at", impl=f"{_M}.at:AdversarialTraining", doc="PGD adversarial training",
    reads=_PGD + ("training.awp_gamma",), name_part="pgd{attack.steps}", train_attack="pgd",
    paper="Madry et al. 2018, https://arxiv.org/abs/1706.06083")
TRADES = MethodEntry(
    name="trades", impl=f"{_M}.trades:Trades", doc="TRADES: clean CE + beta KL(clean || adversarial)",
    reads=("training.trades_beta",) + _ITERATIVE + ("training.awp_gamma",), name_part="pgd{attack.steps}",
    train_attack="trades_kl", paper="Zhang et al. 2019, https://arxiv.org/abs/1901.08573")
FGSM_RS = MethodEntry(
    name="fgsm_rs", impl=f"{_M}.fgsm_rs:FgsmRandomStart", doc="FGSM from a uniform random start",
    reads=("training.fgsm_alpha",), name_part="fgsm", train_attack="fgsm_rs",
    paper="Wong, Rice & Kolter 2020, https://arxiv.org/abs/2001.03994")
N_FGSM = MethodEntry(
    name="n_fgsm", impl=f"{_M}.n_fgsm:NFgsm", doc="N-FGSM: one FGSM step from k x eps uniform noise, no projection",
    reads=("training.nfgsm_noise", "training.nfgsm_alpha", "training.nfgsm_clip"), name_part="nfgsm",
    train_attack="n_fgsm", paper="de Jorge et al. 2022, https://arxiv.org/abs/2206.00614")
FREE = MethodEntry(
    name="free", impl=f"{_M}.free:Free", doc="free adversarial training (each batch replayed attack.steps times)",
    reads=_ITERATIVE, name_part="free-m{attack.steps}", paper="Shafahi et al. 2019, https://arxiv.org/abs/1904.12843")
MART = MethodEntry(
    name="mart", impl=f"{_M}.mart:Mart", doc="misclassification-aware adversarial training",
    reads=("training.mart_beta",) + _ITERATIVE + ("training.awp_gamma",), name_part="pgd{attack.steps}",
    train_attack="pgd_normal_start", paper="Wang et al. 2020, https://openreview.net/forum?id=rklOg6EFwS")
SDN_IC_ONLY = MethodEntry(
    name="sdn_ic_only", impl=f"{_M}.sdn:SDNICOnly", doc="SDN: backbone, then the internal classifiers (IC-only)",
    reads=_IC_PHASE, multi_exit=True, paper="Kaya, Hong & Dumitras 2019, https://arxiv.org/abs/1810.07052")
SDN_IC_ONLY_PGD = MethodEntry(
    name="sdn_ic_only_pgd", impl=f"{_M}.sdn:SDNICOnlyPGD", doc="SDN IC-only, PGD on every exit",
    reads=_IC_PHASE + _PGD, name_part="pgd{attack.steps}", train_attack="pgd_exits", multi_exit=True,
    paper="Hong et al. 2021, https://arxiv.org/abs/2010.02432")
SDN_IC_ONLY_SLOTH = MethodEntry(
    name="sdn_ic_only_sloth", impl=f"{_M}.sdn:SDNICOnlySloth", doc="SDN IC-only, trained on DeepSloth inputs",
    reads=_IC_PHASE + _PGD, name_part="sloth{attack.steps}", train_attack="deepsloth", multi_exit=True,
    paper="Hong et al. 2021, https://arxiv.org/abs/2010.02432")
SDN_IC_ONLY_SLOTH_PGD = MethodEntry(
    name="sdn_ic_only_sloth_pgd", impl=f"{_M}.sdn:SDNICOnlySlothPGD",
    doc="SDN IC-only, clean + PGD + DeepSloth (the paper's 'Ours + PGD-10')", reads=_IC_PHASE + _PGD,
    name_part="sloth-pgd{attack.steps}", train_attack="pgd_exits", multi_exit=True,
    paper="Hong et al. 2021, https://arxiv.org/abs/2010.02432")
SDN = MethodEntry(
    name="sdn", impl=f"{_M}.sdn:SDNEndToEnd", doc="SDN trained end to end (all exits together)", multi_exit=True,
    paper="Kaya, Hong & Dumitras 2019, https://arxiv.org/abs/1810.07052")
SDN_PGD = MethodEntry(
    name="sdn_pgd", impl=f"{_M}.sdn:SDNEndToEndPGD", doc="SDN end to end, PGD on every exit", reads=_PGD,
    name_part="pgd{attack.steps}", train_attack="pgd_exits", multi_exit=True,
    paper="Hong et al. 2021, https://arxiv.org/abs/2010.02432")
SDN_IC_ONLY_PGD_AVG = MethodEntry(
    name="sdn_ic_only_pgd_avg", impl=f"{_M}.sdn_pgd:SDNICOnlyPGDAvg",
    doc="SDN IC-only, the ICs on PGD-avg examples (the paper's 'PGD-10 (Avg.)')", reads=_IC_PHASE + _PGD,
    name_part="pgd-avg{attack.steps}", train_attack="pgd_exits", multi_exit=True,
    paper="Hong et al. 2021, https://arxiv.org/abs/2010.02432")
SDN_IC_ONLY_PGD_MAX = MethodEntry(
    name="sdn_ic_only_pgd_max", impl=f"{_M}.sdn_pgd:SDNICOnlyPGDMax",
    doc="SDN IC-only, the ICs on PGD-max examples (the paper's 'PGD-10 (Max.)')", reads=_IC_PHASE + _PGD,
    name_part="pgd-max{attack.steps}", train_attack="pgd_max_exits", multi_exit=True,
    paper="Hong et al. 2021, https://arxiv.org/abs/2010.02432")
