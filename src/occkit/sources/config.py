"""Source configs: one pydantic class per dataset, chosen by the ``kind`` field.

Each class lives beside its reader and has ``build(split) -> Source``. This module only gathers
them into the discriminated union that DataConfig uses.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from occkit.sources.folder import FolderSourceConfig
from occkit.sources.occ3d import Occ3DSourceConfig
from occkit.sources.semantickitti import SemanticKITTISourceConfig
from occkit.sources.synthetic import SyntheticSourceConfig
from occkit.sources.uavscenes import UAVScenesSourceConfig

SourceConfig = Annotated[
    SyntheticSourceConfig | UAVScenesSourceConfig | Occ3DSourceConfig | SemanticKITTISourceConfig
    | FolderSourceConfig,
    Field(discriminator="kind"),
]

__all__ = ["SourceConfig", "SyntheticSourceConfig", "UAVScenesSourceConfig", "Occ3DSourceConfig",
           "SemanticKITTISourceConfig", "FolderSourceConfig"]
