"""Command-line flags derived from settings dataclasses (``pretrain.config.setting`` fields).

Each field becomes ``--its-name`` (or the field's ``flag``) with its help and its default shown;
a flag the user did not give is absent from the namespace (``argparse.SUPPRESS``), so "not
given" stays distinguishable from "given the default" (a preset or a stored run fills it).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pretrain.config import check_value, flag_of
from pretrain.errors import SequenceTutorError

#: Ends the help of a flag whose default is None and whose text says what "not given" means:
#: prints nothing, and stops ArgumentDefaultsHelpFormatter from appending "(default: None)".
DEFAULT_IN_TEXT = "%(default).0s"


def _value_type(field: dataclasses.Field) -> type:
    if field.default is not None:
        return type(field.default)
    annotation = str(field.type)
    for name, kind in (("float", float), ("int", int)):
        if name in annotation.split(" | "):
            return kind
    return str


def add_settings_arguments(
    group: argparse._ActionsContainer, cls: type, *, skip: tuple[str, ...] = ()
) -> None:
    """Add one flag per field of the settings dataclass ``cls`` (not those in ``skip``)."""
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        meta = field.metadata
        default = "" if field.default is None else f" (default: {field.default})"
        flag = flag_of(field)
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS}
        if meta.get("choices"):
            kwargs["metavar"] = "{" + ",".join(meta["choices"]) + "}"
        else:
            kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        group.add_argument(
            flag,
            type=_value_type(field),
            help=meta["help"].replace("%", "%%") + default,
            **kwargs,
        )


def parse_bool(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no) for a boolean flag."""
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_shared_settings_arguments(
    group: argparse._ActionsContainer,
    families: dict[str, type],
    *,
    skip: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, list[str]]:
    """One flag per field name over several settings dataclasses (``{label: cls}``), e.g. the
    hyper-parameters of each algorithm: a field two classes share (``--lr``) is one flag whose
    help lists each family's default. Returns ``{field name: [labels of the families]}``."""
    skip = skip or {}
    owners: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for label, cls in families.items():
        for field in dataclasses.fields(cls):
            if field.name not in skip.get(label, ()):
                owners.setdefault(field.name, []).append((label, field))
    for name, fields in owners.items():
        first = fields[0][1]
        helps = {field.metadata["help"] for _, field in fields}
        if len(helps) == 1:
            defaults = "; ".join(f"{label}: {field.default}" for label, field in fields)
            text = f"{first.metadata['help']} ({defaults})"
        else:  # the families mean different things by it: each its own help
            text = "; ".join(
                f"{label}: {field.metadata['help']} (default: {field.default})"
                for label, field in fields
            )
        kind = _value_type(first)
        meta = first.metadata
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if meta.get("choices"):
            kwargs["metavar"] = "{" + ",".join(meta["choices"]) + "}"
        else:
            kwargs["metavar"] = flag_of(first).lstrip("-").replace("-", "_").upper()
        group.add_argument(
            flag_of(first),
            type=parse_bool if kind is bool else kind,
            help=text.replace("%", "%%"),
            **kwargs,
        )
    return {name: [label for label, _ in fields] for name, fields in owners.items()}


def given_settings(cls: type, args: argparse.Namespace, *, skip: tuple[str, ...] = ()) -> dict:
    """``{field: value}`` of the flags the user gave, each checked against its field."""
    given = {}
    for field in dataclasses.fields(cls):
        value = getattr(args, field.name, None)
        if field.name in skip or value is None:
            continue
        check_value(field, value, flag_of(field))
        given[field.name] = value
    return given


def check_stored(cls: type, values: Any, what: str) -> None:
    """Raise ``ValueError`` unless ``values`` (from a run file) names only fields of ``cls``, each
    within its bounds."""
    if not isinstance(values, dict):
        raise ValueError(f"{what} must be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"{what}: unknown keys {unknown} (expected keys among {sorted(fields)})")
    for name, value in values.items():
        try:
            check_value(fields[name], value, f"{what}.{name}")
        except SequenceTutorError as exc:
            raise ValueError(str(exc)) from None


__all__ = [
    "DEFAULT_IN_TEXT",
    "add_shared_settings_arguments",
    "parse_bool",
    "add_settings_arguments",
    "check_stored",
    "given_settings",
]
