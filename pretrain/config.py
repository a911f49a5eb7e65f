"""Settings as dataclasses: one place for each default, its help, its bounds and its flag.

A settings class is a frozen dataclass whose fields are made with :func:`setting`. The command
line derives its flags and help from the fields (``sequence_tutor.cli.options``), the library
validates with :func:`check_settings`, and run files store ``dataclasses.asdict`` of them, as
CleanRL derives everything from one ``Args`` dataclass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from pretrain.errors import SequenceTutorError


def setting(
    default: Any,
    help: str,  # noqa: A002 (argparse's word)
    *,
    flag: str | None = None,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """A dataclass field with its help text and bounds.

    :param flag: the command-line flag (default ``--`` + the name with dashes).
    :param minimum: the smallest allowed value; ``above``: values must be greater than this.
    :param maximum: the largest allowed value.
    :param choices: the allowed strings.
    """
    meta = {"help": help, "flag": flag, "minimum": minimum, "above": above, "maximum": maximum}
    meta["choices"] = tuple(choices) if choices is not None else None
    return dataclasses.field(default=default, metadata=meta)


def field_of(cls: Any, name: str) -> dataclasses.Field:
    """The field ``name`` of the settings dataclass ``cls`` (its default, help and bounds)."""
    return {field.name: field for field in dataclasses.fields(cls)}[name]


def flag_of(field: dataclasses.Field) -> str:
    """The command-line flag of a settings field."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def check_value(field: dataclasses.Field, value: Any, name: str) -> None:
    """Raise :class:`SequenceTutorError` naming ``name`` unless ``value`` fits ``field``."""
    meta = field.metadata
    if value is None:
        return
    if meta.get("choices") is not None:
        if value not in meta["choices"]:
            expected = ", ".join(meta["choices"])
            raise SequenceTutorError(
                f"{name}: unknown {field.name.replace('_', ' ')} {value!r} (expected one of {expected})"
            )
        return
    if isinstance(field.default, bool):
        if not isinstance(value, bool):
            raise SequenceTutorError(f"{name} must be true or false, got {value!r:.40}")
        return
    numeric = isinstance(field.default, (int, float)) and not isinstance(field.default, bool)
    if numeric or any(meta.get(k) is not None for k in ("minimum", "above", "maximum")):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SequenceTutorError(f"{name} must be a number, got {value!r:.40}")
        if type(field.default) is int and not isinstance(value, int):
            raise SequenceTutorError(f"{name} must be an integer, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SequenceTutorError(f"{name} must be finite, got {value}")
        _check_bounds(meta, value, name)


def _check_bounds(meta: dict, value: Any, name: str) -> None:
    low, above, high = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    if low is not None and high is not None and not low <= value <= high:
        raise SequenceTutorError(f"{name} must be in [{low}, {high}], got {value}")
    if low is not None and not value >= low:
        raise SequenceTutorError(f"{name} must be >= {low}, got {value}")
    if above is not None and not value > above:
        raise SequenceTutorError(f"{name} must be > {above}, got {value}")
    if high is not None and not value <= high:
        raise SequenceTutorError(f"{name} must be <= {high}, got {value}")


def _bounds_text(meta: dict) -> str:
    """The bounds of a field's metadata in words: ``in [0, 1]``, ``in (0, 1]``, ``>= 1``, ``> 0``."""
    low, above, high = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    if high is not None and (low is None) != (above is None):
        left = f"[{low}" if low is not None else f"({above}"
        return f"in {left}, {high}]"
    parts = [
        f"{sign} {bound}"
        for sign, bound in ((">=", low), (">", above), ("<=", high))
        if bound is not None
    ]
    return " and ".join(parts)


def allowed_text(field: dataclasses.Field) -> str:
    """What a field accepts, in words: ``an integer >= 1``, ``a number in (0, 1]``, ``one of a, b``."""
    meta = field.metadata
    if meta.get("choices") is not None:
        return "one of " + ", ".join(meta["choices"])
    if isinstance(field.default, bool):
        return "true or false"
    annotation = str(field.type).split(" | ")[0]  # "int | None" -> "int"
    kind = type(field.default).__name__ if field.default is not None else annotation
    if kind not in ("int", "float"):
        return "a string"
    bounds = _bounds_text(meta)
    if not bounds:
        return "an integer" if kind == "int" else "a finite number"
    return f"{'an integer' if kind == 'int' else 'a number'} {bounds}"


def check_settings(settings: Any, *, flags: bool = False) -> None:
    """Validate every field of a settings dataclass; errors name the field (or its flag)."""
    for field in dataclasses.fields(settings):
        name = flag_of(field) if flags else field.name
        check_value(field, getattr(settings, field.name), name)


def settings_from_dict(cls: type, values: dict[str, Any], *, where: str) -> Any:
    """``cls(**values)`` for values read from a file: unknown names are an error naming ``where``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SequenceTutorError(
            f"{where}: unknown settings {unknown} (expected among {sorted(known)})"
        )
    settings = cls(**values)
    check_settings(settings)
    return settings


__all__ = [
    "allowed_text",
    "check_settings",
    "check_value",
    "field_of",
    "flag_of",
    "setting",
    "settings_from_dict",
]
