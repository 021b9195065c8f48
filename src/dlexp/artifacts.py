"""The only module that writes files: run folders, atomic writes, CSV appends, provenance.

Every whole-file write goes to a temporary file in the same folder and is
renamed into place, so a reader (or a ``kill -9``) never sees half a file.
CSV logs are appended one complete line per write and flushed at once, so
after a crash ``metrics.csv`` holds every finished epoch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from dlexp.errors import ConfigError

SUMMARY = "summary.json"
CONFIG = "config.yaml"
METRICS = "metrics.csv"
LAYER_STATS = "layer_stats.csv"
PLOTS = "plots"

# clipped_share: the share of the epoch's steps in which gradient clipping changed the gradient
METRICS_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "clipped_share", "epoch_seconds",
                   "wall_seconds"]


def unique_id() -> str:
    """Six hex digits, so runs started in the same second get distinct folders (hydra #2925)."""
    return secrets.token_hex(3)


def stamp() -> str:
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def new_run_dir(root: Path, name: str) -> Path:
    """Create ``root/name/<stamp>_<id>/``; never reuses an existing folder."""
    while True:
        path = Path(root) / name / f"{stamp()}_{unique_id()}"
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value: Any) -> Any:
    """NaN/Inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _json_safe(value.item())
    return value


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


PATH_MAX, NAME_MAX = 4096, 255  # Linux's limits (bytes of a path, of one name in it)
PATH_ROOM = 400  # what goes below an output folder: <name>/<stamp>/runs/<variant>/seed<k>/<file>


def shortened(path) -> str:
    """A path short enough for a one-line message: its start and its end."""
    text = str(path)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]}"


def check_writable_folder(field: str, folder: str) -> None:
    """The folder runs will be written to exists as a writable folder, or can be made: checked
    before any run starts (a file there, or a read-only place, is one line, not a traceback)."""
    shown = shortened(folder)
    path = Path(os.path.normpath(Path(folder).expanduser().absolute()))  # "a/../../.." is the root too
    if path == Path(path.anchor):
        raise ConfigError(field, folder, "a folder below the filesystem root, e.g. outputs")
    if len(str(path)) + PATH_ROOM > PATH_MAX:
        raise ConfigError(field, shown, f"a path of at most {PATH_MAX - PATH_ROOM} characters "
                                        f"(the run folders below it need the rest; got {len(str(path))})")
    long = next((part for part in path.parts if len(part.encode()) > NAME_MAX), None)
    if long is not None:
        raise ConfigError(field, shown, f"folder names of at most {NAME_MAX} bytes each "
                                        f"(one has {len(long.encode())})")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(field, folder, f"a folder ({existing} is a file)")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(field, folder, f"a folder you can write to ({existing} is not writable)")
    if existing is not None:
        # os.access trusts permission bits: root, read-only mounts and /proc need a real try.
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".dlexp-probe-", dir=existing))
        except OSError as err:
            raise ConfigError(field, folder, f"a folder you can write to ({existing}: "
                                             f"{err.strerror or type(err).__name__})") from None


def read_summary(path: Path) -> dict:
    """A run's summary.json; a run still marked ``running`` whose process is gone (``kill -9``, a
    crash, a reboot) is reported as ``interrupted``, so reports and reproduce never wait on it."""
    summary = read_json(path)
    if summary.get("status") == "running" and not _process_alive(summary):
        summary = {**summary, "status": "interrupted", "interrupted_because": "its process is gone"}
    return summary


def _process_alive(summary: dict) -> bool:
    """Whether the process that wrote a ``running`` summary still runs (unknowable on another host:
    then assume it does)."""
    pid, host = summary.get("pid"), (summary.get("provenance") or {}).get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return True
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:
        return True
    written = summary.get("pid_started")
    return not isinstance(written, (int, float)) or abs(started - written) < 1.0  # not a reused pid


def process_identity() -> dict:
    """What a ``running`` summary records so a reader can tell whether its writer is still alive."""
    import psutil

    return {"pid": os.getpid(), "pid_started": psutil.Process(os.getpid()).create_time()}


# libyaml's C emitter and parser where PyYAML was built with them (the same safe subset of YAML):
# every run writes its config and a report parses hundreds, and the pure-Python ones are 4x slower.
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def write_yaml(path: Path, data: Any) -> None:
    atomic_write_text(path, yaml.dump(data, Dumper=_YAML_DUMPER, sort_keys=False))


def read_yaml(path: Path) -> Any:
    """``yaml.safe_load`` of a file (the same safe subset of YAML, parsed by libyaml when present)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_YAML_LOADER)


def write_csv(path: Path, rows: Iterable[dict], columns: Optional[list[str]] = None) -> None:
    rows = list(rows)
    columns = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(path, buf.getvalue())


def write_dataframe(path: Path, df) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def write_npz(path: Path, **arrays) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def save_figure(path: Path, fig) -> None:
    """Render a matplotlib figure to PNG (``figure_png``) and put it in place atomically."""
    atomic_write_bytes(path, figure_png(fig))


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes.

    One draw: figures laid out by ``plots.fixed_layout`` are saved as they are, at
    the figure's own dpi (so the renderer that measured the layout, and its text
    cache, draws it). Any other figure is cropped with ``bbox_inches="tight"``,
    which costs a second full draw but cannot clip what sticks out of it.
    """
    buf = io.BytesIO()
    if getattr(fig, "dlexp_fixed_layout", False):
        fig.savefig(buf, format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 4})
    else:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


class CsvLog:
    """Append-only CSV: the header once, then one complete, flushed line per row.

    Args:
        path: the file; appended to if it exists (a resumed run continues it).
        columns: column order; extra keys in rows are ignored.
    """

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = Path(path), columns
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        if new:
            self._write_line(columns)

    def _write_line(self, values: list) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerow(values)
        self._file.write(buf.getvalue())  # one write per line: a crash cannot split a row
        self._file.flush()

    def append(self, row: dict) -> None:
        self._write_line([_fmt(row.get(c, "")) for c in self.columns])

    def extend(self, rows: Iterable[dict]) -> None:
        for r in rows:
            self.append(r)

    def close(self) -> None:
        self._file.close()


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else repr(value))
    return value


def truncate_csv(path: Path, column: str, last: int) -> None:
    """Keep the header and the complete rows whose ``column`` is <= ``last`` (a resumed run's history)."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if not lines:
        return
    header = next(csv.reader([lines[0]]))
    idx = header.index(column)
    keep = [lines[0]]
    for line in lines[1:]:
        if not line.endswith("\n"):
            break  # a torn last line from a crash
        row = next(csv.reader([line]))
        if len(row) == len(header) and int(float(row[idx])) <= last:
            keep.append(line)
    atomic_write_text(path, "".join(keep))


def git_commit() -> Optional[str]:
    """The commit of the checkout dlexp runs from, or None for an installed copy."""
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def provenance() -> dict:
    return {
        "dlexp": _version("dlexp"),
        "tensorflow": _version("tensorflow") or _version("tensorflow-cpu"),
        "keras": _version("keras"),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "argv": sys.argv,
        "started_at": datetime.now().isoformat(timespec="seconds"),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and finished children), in MB."""
    import resource

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return self_kb / 1024.0


def remove_if_only(path: Path, allowed: set[str]) -> None:
    """Remove a folder that holds nothing but ``allowed`` entries (Hydra's own files after a config error)."""
    import shutil

    path = Path(path)
    if path.is_dir() and all(p.name in allowed for p in path.iterdir()):
        shutil.rmtree(path, ignore_errors=True)
        parent = path.parent
        for _ in range(3):  # also drop now-empty outputs/<name>/[multirun/] parents
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def wall_clock() -> float:
    return time.perf_counter()
