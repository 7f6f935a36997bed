"""The system description of a submission (``systems/<system_id>.json``): what ran its runs.

Three sources, in increasing precedence, each field saying which one gave it (``sources``):

* ``records``: the runs' own ``hardware`` and ``software`` groups (CPU model, GPU models and count, python,
  torch, timm, deepspeed, pyautoattack) - the system that ran them. All runs must agree; a field that differs
  between runs is refused, naming it and the two runs (host names may differ: the nodes of one cluster).
* ``detected``: what the records do not hold, read on the host that packages the submission, without importing
  torch: CPU count, memory, the NVIDIA driver and GPUs (nvidia-ml-py, when a driver is there), torch's CUDA
  build (``derived`` from the records' torch version tag ``+cu121``, else read from the installed torch's
  ``version.py``), robustperf's version and git commit.
* ``SYSTEM.yaml`` (``robustperf submit --system``): overrides or adds fields. Its keys: ``name`` (the system's
  name; its id is the name as a safe folder name), ``notes``, and ``hardware:`` / ``software:`` mappings of
  ``snake_case`` keys to scalars (the known keys of :data:`FIELDS` are type-checked).
"""
from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import platform
import re
import subprocess
from typing import Any, Dict, List, Optional, Sequence, Tuple

from recipes.limits import limit, over_limit_message
from results.holder import cpu_model

from .errors import SubmissionError
from .layout import slug

#: systems/<id>.json's ``format``
SYSTEM_FORMAT = "robustperf-system/1"
#: section -> key -> the type of its value (None: any scalar); every key is present in a description
FIELDS: Dict[str, Dict[str, Any]] = {
    "hardware": {"cpu_model": str, "cpu_count": int, "gpu_model": str, "gpu_count": int, "memory_gb": float,
                 "driver": str, "hosts": None},
    "software": {"python": str, "torch": str, "cuda": str, "timm": str, "deepspeed": str, "pyautoattack": str,
                 "robustperf_version": str, "robustperf_commit": str},
}
#: record group key -> description field, for the fields the records hold
_FROM_RECORDS = {("hardware", "cpu"): ("hardware", "cpu_model"), ("software", "python"): ("software", "python"),
                 ("software", "torch"): ("software", "torch"), ("software", "timm"): ("software", "timm"),
                 ("software", "deepspeed"): ("software", "deepspeed"),
                 ("software", "pyautoattack"): ("software", "pyautoattack")}
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FILE_KEYS = ("name", "notes", "hardware", "software")
_MAX_TEXT = 500


def describe_system(records: Sequence[Tuple[str, Dict[str, Any]]], system_file: Optional[str] = None
                    ) -> Dict[str, Any]:
    """The system description of the runs ``records`` (``(path, record)`` pairs), with ``system_file``'s fields.

    Raises:
        SubmissionError: the runs disagree on a field of their hardware or software, or the file is unreadable
            or invalid (named with its key).
    """
    values: Dict[str, Dict[str, Any]] = {section: {key: None for key in keys} for section, keys in FIELDS.items()}
    sources: Dict[str, str] = {}

    def put(section: str, key: str, value: Any, source: str) -> None:
        if value is not None:
            values[section][key] = value
            sources[f"{section}.{key}"] = source

    for (group, field), (section, key) in _FROM_RECORDS.items():
        put(section, key, _agreed(records, group, field), "records")
    gpus = _agreed(records, "hardware", "gpus")
    if gpus is not None:
        put("hardware", "gpu_count", len(gpus), "records")
        put("hardware", "gpu_model", ", ".join(dict.fromkeys(str(g) for g in gpus)) or None, "records")
    hosts = sorted({str(r.get("hardware", {}).get("host")) for _, r in records
                    if isinstance(r.get("hardware"), dict) and r["hardware"].get("host")})
    put("hardware", "hosts", hosts or None, "records")
    cuda, how = _cuda_of(values["software"]["torch"])
    put("software", "cuda", cuda, how)
    for (section, key), value in detect().items():
        if values[section][key] is None:
            put(section, key, value, "detected")
    name = None
    notes = None
    if system_file is not None:
        data = read_system_file(system_file)
        name, notes = data.get("name"), data.get("notes")
        for section in ("hardware", "software"):
            for key, value in (data.get(section) or {}).items():
                values[section].setdefault(key, None)
                put(section, key, value, os.path.basename(system_file))
    name = name or default_name(values["hardware"])
    out = {"format": SYSTEM_FORMAT, "system_id": slug(name), "name": name, **values, "sources": sources}
    if notes:
        out["notes"] = notes
    return out


def default_name(hardware: Dict[str, Any]) -> str:
    """``2xNVIDIA H200`` for GPUs, ``1xAMD EPYC 2c`` (CPU model, cores) without."""
    if hardware.get("gpu_count"):
        return f"{hardware['gpu_count']}x{hardware.get('gpu_model') or 'GPU'}"
    cores = f" {hardware['cpu_count']}c" if hardware.get("cpu_count") else ""
    return f"1x{hardware.get('cpu_model') or 'CPU'}{cores}"


def _agreed(records: Sequence[Tuple[str, Dict[str, Any]]], group: str, field: str) -> Any:
    """The value every run's record gives ``group.field`` (None when none gives one); refuse a disagreement."""
    seen: Optional[Tuple[str, Any]] = None
    for path, record in records:
        section = record.get(group)
        value = section.get(field) if isinstance(section, dict) else None
        if value is None:
            continue
        if seen is not None and value != seen[1]:
            raise SubmissionError(f"the runs ran on different systems: {seen[0]} has {seen[1]!r}; one result is "
                                  "one system (package each system's runs on their own)", path=path,
                                  key=f"{group}.{field}", value=value)
        seen = seen or (path, value)
    return None if seen is None else seen[1]


def _cuda_of(torch_version: Optional[str]) -> Tuple[Optional[str], str]:
    """torch's CUDA build from its version's local tag (``2.4.0+cu121`` -> ``12.1``; ``+cpu`` -> ``none``)."""
    tag = (torch_version or "").partition("+")[2]
    match = re.fullmatch(r"cu(\d+)(\d)", tag)
    if match:
        return f"{match.group(1)}.{match.group(2)}", "derived"
    if tag in ("cpu", "rocm") or tag.startswith("rocm"):
        return "none", "derived"
    return None, "derived"


# ---------------------------------------------------------------------------------------------- detection

def detect() -> Dict[Tuple[str, str], Any]:
    """What this host says of itself, torch-free: ``{(section, key): value}`` for the fields found."""
    out: Dict[Tuple[str, str], Any] = {("hardware", "cpu_model"): cpu_model(),
                                       ("hardware", "cpu_count"): os.cpu_count(),
                                       ("hardware", "memory_gb"): _memory_gb(),
                                       ("software", "python"): platform.python_version(),
                                       ("software", "torch"): _version("torch"),
                                       ("software", "cuda"): _torch_cuda(),
                                       ("software", "robustperf_version"): _version("robustperf"),
                                       ("software", "robustperf_commit"): robustperf_commit()}
    gpus, driver = _nvml()
    out[("hardware", "driver")] = driver
    if gpus:
        out[("hardware", "gpu_count")] = len(gpus)
        out[("hardware", "gpu_model")] = ", ".join(dict.fromkeys(gpus))
    return {k: v for k, v in out.items() if v is not None}


def _memory_gb() -> Optional[float]:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(dist: str) -> Optional[str]:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch_cuda() -> Optional[str]:
    """The installed torch's CUDA build, read from ``torch/version.py`` (never imported); ``none`` for a CPU build."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(100_000))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if any(isinstance(t, ast.Name) and t.id == "cuda" for t in targets):
            value = node.value.value if isinstance(node.value, ast.Constant) else None
            return str(value) if value else "none"
    return None


def _nvml() -> Tuple[List[str], Optional[str]]:
    """(GPU names, driver version) from NVML; ``([], None)`` without nvidia-ml-py or a driver."""
    try:
        import pynvml  # nvidia-ml-py: torch-free
    except ImportError:
        return [], None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...: no NVIDIA GPU here
        return [], None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        names = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names, driver.decode() if isinstance(driver, bytes) else str(driver)
    except Exception:  # noqa: BLE001 - a GPU that cannot be queried: report what NVML gave
        return [], None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def robustperf_commit() -> Optional[str]:
    """The git commit of the robustperf source tree (``<sha>-dirty`` with uncommitted changes); None outside git."""
    import robustperf_errors

    here = os.path.dirname(os.path.abspath(robustperf_errors.__file__))
    try:
        done = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty", "--abbrev=40"],
                              capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", text) else None


# ---------------------------------------------------------------------------------------------- SYSTEM.yaml

def read_system_file(path: str) -> Dict[str, Any]:
    """``--system SYSTEM.yaml``, read within the ``recipe_bytes`` bound and validated (see the module docstring).

    Raises:
        SubmissionError: unreadable, too large, not YAML, or a key or value that is not allowed (named).
    """
    from recipes.errors import RecipeError
    from recipes.loading import parse_yaml

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit("recipe_bytes"):
                raise SubmissionError(over_limit_message("recipe_bytes", "the file's size in bytes", size),
                                      path=path)
            raw = fh.read(limit("recipe_bytes") + 1)
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(f"not UTF-8 text (byte {err.start})", path=path) from None
    except OSError as err:
        raise SubmissionError(f"cannot read the system file: {err.strerror or err}", path=path) from None
    try:
        data, _ = parse_yaml(text, path)
    except RecipeError as err:
        raise SubmissionError(f"not valid YAML: {err}", path=path) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise SubmissionError(f"expected a mapping with keys {', '.join(_FILE_KEYS)}", path=path,
                              value=type(data).__name__)
    for key, value in data.items():
        if key not in _FILE_KEYS:
            raise SubmissionError(f"unknown key (allowed: {', '.join(_FILE_KEYS)})", path=path, key=str(key))
        if key in ("name", "notes"):
            _check_text(value, path, key, required=key == "name")
        elif not isinstance(value, dict):
            raise SubmissionError("expected a mapping of keys to values", path=path, key=key, value=value)
        else:
            for sub, item in value.items():
                _check_field(key, sub, item, path)
    return data


def _check_text(value: Any, path: str, key: str, required: bool = False) -> None:
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > _MAX_TEXT:
        raise SubmissionError(f"expected a {'non-empty ' if required else ''}string of at most {_MAX_TEXT} "
                              "characters", path=path, key=key, value=value)


def _check_field(section: str, key: Any, value: Any, path: str) -> None:
    where = f"{section}.{key}"
    if not isinstance(key, str) or not _KEY.match(key):
        raise SubmissionError("expected a snake_case key ([a-z][a-z0-9_]*)", path=path, key=where)
    kind = FIELDS[section].get(key, None)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        what = "a whole number >= 0"
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf")
        what = "a number >= 0"
    elif kind is str:
        ok = isinstance(value, str) and 0 < len(value) <= _MAX_TEXT
        what = f"a string of 1-{_MAX_TEXT} characters"
    else:
        ok = value is None or isinstance(value, (bool, int, float)) or (isinstance(value, str)
                                                                         and len(value) <= _MAX_TEXT)
        what = f"a string (at most {_MAX_TEXT} characters), a number, true/false or null"
    if not ok:
        raise SubmissionError(f"expected {what}", path=path, key=where, value=value)
