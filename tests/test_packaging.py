"""The package metadata builds without setuptools warnings (e.g. a deprecated license table)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BUILD_METADATA = """
import sys, warnings
from setuptools import build_meta
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    build_meta.prepare_metadata_for_build_wheel(sys.argv[1])
for warning in caught:
    print(f"{warning.category.__name__}: {str(warning.message).splitlines()[0]}", file=sys.stderr)
sys.exit(1 if caught else 0)
"""


def test_metadata_builds_without_warnings_and_names_the_license(tmp_path):
    pytest.importorskip("setuptools", minversion="77")  # what pip's isolated build uses (pyproject.toml)
    finished = subprocess.run(
        [sys.executable, "-c", BUILD_METADATA, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    (metadata,) = tmp_path.glob("*.dist-info/METADATA")
    assert "License-Expression: MIT" in metadata.read_text().splitlines()
