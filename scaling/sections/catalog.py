"""The built-in analysis sections of ``robustperf analyze``, declared once: name, code, one line, position.

Torch-free and numpy-free (see :mod:`recipes.catalog`); registered under the ``robustperf.sections`` entry-point
group in the project's ``setup.cfg``, as another package registers its own. ``order`` is the position in the
analysis and the reports (lower first; a section runs after those whose fits it ``needs``).
"""
from recipes.catalog import SectionEntry

_S = "scaling.sections"

TRENDS = SectionEntry(
    name="trends", impl=f"{_S}.trends:TrendsSection", order=50,
    doc="compute trend of published models: parameter and FLOP doubling times per era, frontier by year")
ENVELOPE = SectionEntry(
    name="envelope", impl=f"{_S}.envelope:EnvelopeSection", order=100,
    doc="envelope law: best accuracy per FLOP bin, accuracy = C * FLOPs**alpha")
LAWS = SectionEntry(
    name="laws", impl=f"{_S}.laws:LawsSection", order=150,
    doc="candidate accuracy laws fitted on the envelope points")
BACKTEST = SectionEntry(
    name="backtest", impl=f"{_S}.laws:BacktestSection", order=160,
    doc="backtest of the candidate laws at compute cuts; the best extrapolating law is chosen")
ELECTRICITY = SectionEntry(
    name="electricity", impl=f"{_S}.costs:ElectricitySection", order=200,
    doc="electricity cost ($) against FLOPs, log-log OLS")
CO2 = SectionEntry(
    name="co2", impl=f"{_S}.costs:Co2Section", order=210,
    doc="emissions (kg CO2eq) against FLOPs, log-log OLS")
KWH = SectionEntry(
    name="kwh", impl=f"{_S}.costs:KwhSection", order=220,
    doc="energy (kWh) against FLOPs, log-log OLS")
QUANTILE = SectionEntry(
    name="quantile", impl=f"{_S}.quantile:QuantileSection", order=300,
    doc="bin-free frontier: quantile regression of accuracy on log10 FLOPs")
QUANTILE_TREND = SectionEntry(
    name="quantile_trend", impl=f"{_S}.quantile_trend:QuantileTrendSection", order=310,
    doc="quantile regressions at both ends, with an optional time trend (algorithmic progress)")
GBR = SectionEntry(
    name="gbr", impl=f"{_S}.factors:GradientBoostingSection", order=400,
    doc="gradient boosting of accuracy on the recipe factors: which factors matter")
FACTORS = SectionEntry(
    name="factors", impl=f"{_S}.factors:FactorFiguresSection", order=450,
    doc="figures of accuracy against FLOPs coloured by each factor")
FORECAST = SectionEntry(
    name="forecast", impl=f"{_S}.forecast:ForecastSection", order=600,
    doc="FLOPs (and kWh, $, CO2) to reach target accuracies under the envelope law, bootstrapped")
LAW_FORECAST = SectionEntry(
    name="law_forecast", impl=f"{_S}.laws:LawForecastSection", order=610,
    doc="forecast under the chosen law with split-conformal and bootstrap intervals")
ALLOCATION = SectionEntry(
    name="allocation", impl=f"{_S}.allocation:AllocationSection", order=620,
    doc="compute-optimal robust model: joint law of parameters and samples seen, best N and D per budget")
SLOWDOWN = SectionEntry(
    name="slowdown", impl=f"{_S}.slowdown:SlowdownSection", order=700,
    doc="slowdown attacks on early exits (DeepSloth): efficacy, accuracy, amplification, defence table")
SURVIVAL = SectionEntry(
    name="survival", impl=f"{_S}.survival:SurvivalSection", order=700,
    doc="attack survival: AFT models of time-to-failure compared, and TRASH per run")
INFERENCE = SectionEntry(
    name="inference", impl=f"{_S}.inference:InferenceSection", order=750,
    doc="inference latency, throughput and energy per precision against robust accuracy")
REPEATS = SectionEntry(
    name="repeats", impl=f"{_S}.repeats:RepeatsSection", order=800,
    doc="mean, sd and olympic mean of accuracy per configuration run with several seeds")
METHODS = SectionEntry(
    name="methods", impl=f"{_S}.methods:MethodsSection", order=850,
    doc="cost of robustness by training method over standard training, with the Pareto front")
HYPERVOLUME = SectionEntry(
    name="hypervolume", impl=f"{_S}.frontier:HypervolumeSection", order=860,
    doc="hypervolume of the methods' Pareto fronts (stated reference point) and methods ranked by contribution")
DEVICES = SectionEntry(
    name="devices", impl=f"{_S}.devices:DevicesSection", order=870,
    doc="accuracy, training time, power and cost by device and dataset (the cost-aware study's Figures 3-6)")
YEAR_FORECAST = SectionEntry(
    name="year_forecast", impl=f"{_S}.year_forecast:YearForecastSection", order=625,
    doc="robust accuracy, FLOPs and cost ($) of the model of a given year: compute trend x law x compute per $")
POWER = SectionEntry(
    name="power", impl=f"{_S}.power:PowerSection", order=855,
    doc="power per epoch of robust vs standard training (the methods study), ratio of average power with a "
        "bootstrap interval")
LAYERS = SectionEntry(
    name="layers", impl=f"{_S}.layers:LayerTimeSection", order=830,
    doc="time by layer type (convolution, normalisation, activation, linear, other) per training method")
