"""Config dumps for cache keys and fingerprints that survive new optional settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def dump_without_unset(model: BaseModel, added: set[str]) -> dict[str, Any]:
    """``model.model_dump(mode="json")`` without the fields named in ``added`` that are left at their default
    (None, or what the code did before the setting existed): a setting added to a config later stays out of what
    is hashed until it is used, so keys made before it existed still match."""
    fields = type(model).model_fields
    return model.model_dump(mode="json", exclude={k for k in added if getattr(model, k) == fields[k].default})
