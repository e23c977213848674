"""Run directories shared between sweeps: one directory per distinct training run, named by a content hash.

A run's key is the SHA-256 of its resolved training config (seed included) and of its data: a data file with
a ``manifest.json`` beside it (the built-in dataset: generator, version, size, seed) counts by that manifest
and its file name, so a dataset regenerated on another machine keeps the keys; any other file by the SHA-256
of its contents. Two sweeps that ask for the same training (say the ablation's full EquiformerV2 and the data
efficiency sweep's lmax 2 at the largest size, same seed) train it once, in ``<store>/<key>``; each sweep
shows it as a symbolic link ``<out>/<variant>/seed<k>``. A changed config or data file gives a new key, so
stale results are never reused. A lock file ``<store>/<key>.lock`` (``flock``) lets several processes work
through the same runs: a run that another process is training is left to it.

A finished run's small files (``ARCHIVED_FILES``: resolved config, marker, test metrics, learning curve) are
copied to ``<results>/<key>`` (`archive`), a folder that is committed: a run found there counts as done on
any clone, and reports read it; the run store itself (checkpoints) is never committed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eqv2.model_config import EquiformerV2Config
from eqv2.train.config import MODEL_TRAINING_KEYS, ConfigError, TrainConfig, model_options

KEY_FILE = "run_key.json"
ARCHIVED_FILES = (KEY_FILE, "done.json", "test_metrics.json", "metrics.csv")
DATA_MANIFEST = "manifest.json"
_file_digests: dict[tuple[str, int, int], str] = {}


def data_paths(config: TrainConfig) -> list[tuple[str, str]]:
    """(key, path) of every data file of a config: data.train, data.val, data.test, in that order."""
    paths = []
    for key in ("train", "val", "test"):
        value = getattr(config.data, key)
        paths += [(f"data.{key}", path) for path in ([value] if isinstance(value, str) else list(value or []))]
    return paths


def file_digest(path: str) -> str:
    """SHA-256 of a file's contents, or of a directory's files (names and contents, in sorted order);
    cached per path, size and modification time."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file()) if Path(path).is_dir() else [Path(path)]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(path).as_posix().encode() if file != Path(path) else b"")
        digest.update(_one_file_digest(file).encode())
    return digest.hexdigest()


def _one_file_digest(file: Path) -> str:
    status = file.stat()
    cache_key = (str(file.resolve()), status.st_size, status.st_mtime_ns)
    if cache_key not in _file_digests:
        digest = hashlib.sha256()
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        _file_digests[cache_key] = digest.hexdigest()
    return _file_digests[cache_key]


def key_inputs(config: TrainConfig) -> dict[str, Any]:
    """What a run's key hashes: the resolved config (model options with their defaults filled in, so that
    setting an option to its default changes nothing) and the SHA-256 of each data file (ConfigError if missing)."""
    values = config.to_dict()
    if not config.model.get("init_from"):
        training = {key: value for key, value in config.model.items() if key in MODEL_TRAINING_KEYS}
        values["model"] = {**training, **EquiformerV2Config.from_dict(model_options(config.model)).to_dict()}
    identities = {}
    for key, path in data_paths(config):
        if not Path(path).exists():
            raise ConfigError(f"{key}: {path} does not exist (relative paths are relative to {Path.cwd()})")
        identities[path] = data_identity(path)
    return {"config": values, "data": identities}


def data_identity(path: str) -> str | dict[str, Any]:
    """What identifies a data file in a run key: the generator's manifest beside it and the file's name, or
    the SHA-256 of its contents when there is no manifest."""
    manifest = Path(path).parent / DATA_MANIFEST
    if Path(path).is_file() and manifest.is_file():
        return {"manifest": json.loads(manifest.read_text()), "file": Path(path).name}
    return file_digest(path)


def run_key(config: TrainConfig) -> str:
    """16 hex digits of the SHA-256 of `key_inputs` (canonical JSON)."""
    text = json.dumps(key_inputs(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_key_file(run_dir: Path, config: TrainConfig, key: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / KEY_FILE).write_text(json.dumps({"key": key, **key_inputs(config)}, indent=2))


def link(view: Path, run_dir: Path) -> None:
    """Make ``view`` a relative symbolic link to ``run_dir`` (replacing a link to another run).

    Raises ConfigError when ``view`` is a real directory or file (from an older layout): it is not replaced.
    """
    target = Path(os.path.relpath(run_dir, view.parent))
    if view.is_symlink():
        if Path(os.readlink(view)) == target:
            return
        view.unlink()
    elif view.exists():
        raise ConfigError(f"{view}: exists and is not a link into the run store; move it away to rerun the sweep")
    view.parent.mkdir(parents=True, exist_ok=True)
    view.symlink_to(target, target_is_directory=True)


@contextmanager
def claimed(run_dir: Path, wait: bool) -> Iterator[bool]:
    """Hold the run's lock while inside; yields False (and holds nothing) when another process has it and
    ``wait`` is false. The lock goes with the process, so a killed run is free to be resumed."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(run_dir.parent / f"{run_dir.name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def archive(run_dir: Path, results_dir: Path) -> None:
    """Copy a finished run's small files (`ARCHIVED_FILES`) from ``run_dir`` to ``results_dir`` (each file
    written to a temporary name, then renamed)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVED_FILES:
        temporary = results_dir / f".{name}.tmp"
        temporary.write_bytes((run_dir / name).read_bytes())
        os.replace(temporary, results_dir / name)
