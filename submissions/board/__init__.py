"""The leaderboard (``robustperf board``): a static web site of submitted results that opens from disk.

:mod:`.inputs` reads summary CSVs and submission folders into :class:`.model.Result` s; :mod:`.pages` and
:mod:`.result_page` render the index, one page per benchmark and one per result (escaping every input,
:mod:`.markup`); :mod:`.charts` makes the plotly figures (Pareto fronts); :mod:`.site` writes it all, atomically and
only inside the site folder. The page script (sorting, filters, charts) is ``static/board.js``.
"""
from .errors import BoardError
from .inputs import load_inputs, read_submission, read_summary
from .site import build_site

__all__ = ["BoardError", "build_site", "load_inputs", "read_submission", "read_summary"]
