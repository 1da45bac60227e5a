"""The per-registry linkage partition as a module-level Prefect task.

Defined at module level (not wrapped inside a function) so that Dask can pickle it by
reference and run it on another machine; it only calls the library. Imported lazily,
after `flows.prefect_env.configure`, because importing Prefect reads its settings.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from matching import linkage
from matching.model import Model


@task(name="link-partition", cache_policy=NO_CACHE, persist_result=False)
def link_partition(members: pa.Table, registry: pa.Table, name_tf: pa.Table, model: Model,
                   policy_values: dict[str, Any], memory_limit: str | None = None) -> tuple[pa.Table, linkage.LinkResult]:
    return linkage.link_partition(members, registry, name_tf, model, policy_values, memory_limit)
