"""Where the tests find the repository and the shared datasets beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PEER = REPO.parent / "shared" / "datasets" / "peer-emulator"
MAPPING = REPO / "data" / "mappings" / "peer_emulator.yaml"

needs_peer = pytest.mark.skipif(not PEER.exists(), reason="../shared/datasets not beside repo")
