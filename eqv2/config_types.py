"""Type checks of configuration values against their annotations, written as strings.

One checker for the model options (`eqv2.model_config`), the training config (`eqv2.train.config`)
and sweep files (`eqv2.experiment.sweep`). Annotations are the strings dataclass fields carry under
``from __future__ import annotations``: ``"int"``, ``"float | None"``, ``"list[int]"``, ``"dict"``...
"""

from __future__ import annotations

from typing import Any


def matches(value: Any, annotation: str) -> bool:
    """True when ``value`` has the type ``annotation`` names; bools are not ints, ints are floats."""
    options = [option.strip() for option in annotation.split("|")]
    if len(options) > 1:
        return any(matches(value, option) for option in options)
    if annotation == "None":
        return value is None
    if annotation == "bool":
        return isinstance(value, bool)
    if annotation == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation == "str":
        return isinstance(value, str)
    if annotation.startswith("list["):
        item = annotation[len("list[") : -1]
        return isinstance(value, (list, tuple)) and all(matches(v, item) for v in value)
    if annotation.startswith("dict"):
        return isinstance(value, dict)
    raise TypeError(f"unsupported annotation {annotation!r}")


def check_type(name: str, value: Any, annotation: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming ``name`` when ``value`` does not match ``annotation``."""
    if not matches(value, annotation):
        raise error(f"{name}: expected {annotation}, got {value!r}")
