"""The ops tools (hadolint, shellcheck, check-jsonschema) come from the ``ops`` extras.

Without them the tests that need them skip on a developer machine and fail under CI,
as the PostgreSQL cases do.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("hadolint", "shellcheck", "check-jsonschema")


def tool_path() -> str:
    """PATH with this interpreter's scripts first, where pip put the ops tools."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def require_ops_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool, path=tool_path()) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: pip install -e '.[ops]'"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
