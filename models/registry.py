"""One explicit registry of named model variants.

A *family* pairs a config dataclass with the one builder that turns it into a module
(``register_family``). A *variant* is a name bound to a family and a config instance
(``register``): variants are data, never copied classes. Duplicate names are errors.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from .errors import ConfigError

C = TypeVar("C")


@dataclass(frozen=True)
class Family:
    name: str
    config_cls: type
    builder: Callable[[Any], nn.Module]


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    config: Any
    description: str


_FAMILIES: dict[str, Family] = {}
_VARIANTS: dict[str, Variant] = {}


def register_family(
    name: str, config_cls: type
) -> Callable[[Callable[[C], nn.Module]], Callable[[C], nn.Module]]:
    """Decorator: ``@register_family("mitas", MiTASConfig)`` on the family's builder."""

    def deco(builder: Callable[[C], nn.Module]) -> Callable[[C], nn.Module]:
        if name in _FAMILIES:
            raise ConfigError(f"model family {name!r} registered twice")
        _FAMILIES[name] = Family(name, config_cls, builder)
        return builder

    return deco


def register(name: str, family: str, config: Any, description: str = "") -> None:
    """Register a named variant: a family plus a config instance."""
    if name in _VARIANTS:
        raise ConfigError(f"model {name!r} registered twice")
    fam = _FAMILIES.get(family)
    if fam is None:
        raise ConfigError(f"unknown model family {family!r}")
    if not isinstance(config, fam.config_cls):
        raise ConfigError(f"{name}: config must be a {fam.config_cls.__name__}")
    _VARIANTS[name] = Variant(name, family, config, description)


def list_models() -> list[str]:
    """Names of every registered variant, sorted."""
    return sorted(_VARIANTS)


def list_families() -> list[str]:
    return sorted(_FAMILIES)


def get_variant(name: str) -> Variant:
    try:
        return _VARIANTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; available: {', '.join(list_models())}"
        ) from None


def family_of_config(config: Any) -> Family:
    for fam in _FAMILIES.values():
        if type(config) is fam.config_cls:
            return fam
    raise ConfigError(f"{type(config).__name__} is not a registered model config")


def replace_config(config: C, **overrides: Any) -> C:
    """``dataclasses.replace`` with a clear error for unknown fields (validates in post-init)."""
    names = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(
            f"{type(config).__name__} has no field(s) {', '.join(unknown)}; "
            f"valid fields: {', '.join(sorted(names))}"
        )
    return dataclasses.replace(config, **overrides)  # type: ignore[type-var]


def get_config(name: str, **overrides: Any) -> Any:
    """The config of a named variant, with overrides applied and validated."""
    return replace_config(get_variant(name).config, **overrides)


def build(config: Any) -> nn.Module:
    """Build a module from a config instance of any registered family."""
    model = family_of_config(config).builder(config)
    model.config = config
    return model


def create(name: str, **overrides: Any) -> nn.Module:
    """Build the named variant, optionally overriding config fields."""
    return build(get_config(name, **overrides))


# ----------------------------------------------------------------------- config <-> JSON


def config_to_json(config: Any) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def _coerce(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        return tuple(_coerce(v, a) for v, a in zip(value, args, strict=False))
    if origin in (typing.Union, types.UnionType):
        for a in typing.get_args(hint):
            if typing.get_origin(a) is tuple and isinstance(value, list):
                return _coerce(value, a)
    return value


def config_from_dict(family: str, data: dict[str, Any]) -> Any:
    """Rebuild (and validate) a family's config from a plain dict, e.g. parsed JSON."""
    fam = _FAMILIES.get(family)
    if fam is None:
        raise ConfigError(f"unknown model family {family!r}; known: {', '.join(list_families())}")
    hints = typing.get_type_hints(fam.config_cls)
    names = {f.name for f in dataclasses.fields(fam.config_cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{fam.config_cls.__name__} has no field(s) {', '.join(unknown)}")
    kwargs = {k: _coerce(v, hints.get(k)) for k, v in data.items()}
    try:
        return fam.config_cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"bad {family} config: {e}") from None
