"""docker-compose.yml's agent service finds local models in the cache it mounts."""

from __future__ import annotations

from pathlib import Path

import yaml

from collab.models.cache import DIR_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_the_agent_service_reads_models_from_a_mounted_cache() -> None:
    agent = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["agent"]
    cache = agent["environment"][DIR_ENV]
    # SOURCE:TARGET[:MODE]; the source may be ${VAR:-default}, colon and all.
    mounts = {volume.removesuffix(":ro").removesuffix(":rw").rsplit(":", 1)[1]: volume for volume in agent["volumes"]}
    assert cache in mounts, f"{DIR_ENV}={cache} is not a mounted folder"
    assert mounts[cache].endswith(":ro")  # the agent loads models; downloads happen on the host
