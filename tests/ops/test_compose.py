"""docker-compose.yml, read as compose reads it: what no schema check can see.

No compose client runs here, so the file is loaded with ruamel.yaml (from the ops
extras), ``${VAR}`` is substituted the way compose does it, and the callpool service's
environment is handed to callpool's own settings loader.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from callpool.settings import load_settings
from tests.ops.tools import REPO, require_ops_tools

SECRETS = {"POSTGRES_PASSWORD": "pg0123456789abcdef", "AMI_SECRET": "ami0123456789abcdef"}
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        found = env.get(name)
        empty = found is None or (op is not None and op.startswith(":") and found == "")
        if op is not None and op.endswith("?") and empty:
            raise MissingVariable(arg)
        if op is not None and op.endswith("-") and empty:
            return arg
        return found or ""

    return VARIABLE.sub(substitute, value)


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    from ruamel.yaml import YAML

    raw = YAML(typ="safe").load((REPO / "docker-compose.yml").read_text())
    loaded: dict[str, Any] = interpolate(raw, env)
    return loaded


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_ops_tools()


def test_the_callpool_service_environment_is_valid_callpool_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = load_compose(SECRETS)
    environment = compose["services"]["callpool"]["environment"]
    for name in list(os.environ):
        if name.startswith("CALLPOOL_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    settings = load_settings()
    password = SECRETS["POSTGRES_PASSWORD"]
    url = f"postgresql+asyncpg://callpool:{password}@postgres:5432/callpool"
    assert settings.database_url.get_secret_value() == url
    assert settings.ami_enabled
    (pbx,) = settings.pbx
    assert (pbx.host, pbx.port, pbx.username) == ("asterisk", 5038, "callpool")
    assert pbx.secret.get_secret_value() == SECRETS["AMI_SECRET"]
    # extensions.conf dials PJSIP/201..203: those channels must read as agents.
    (pattern,) = pbx.agent_channel_patterns
    match = re.match(pattern, "PJSIP/202-0000002a")
    assert match is not None and match["ext"] == "202"
    assert re.match(pattern, "PJSIP/trunk-0000002b") is None
    assert str(pbx.cdr_csv_path).startswith("/var/log/asterisk-cdr/")


def test_the_secrets_must_be_set() -> None:
    for name in SECRETS:
        with pytest.raises(MissingVariable, match=f"set {name} in .env"):
            load_compose({k: v for k, v in SECRETS.items() if k != name})
        with pytest.raises(MissingVariable):
            load_compose({**SECRETS, name: ""})


def test_callpool_starts_after_the_schema_upgrade_which_waits_for_postgres() -> None:
    services = load_compose(SECRETS)["services"]
    assert services["migrate"]["command"] == ["callpool", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    waits = services["callpool"]["depends_on"]["migrate"]["condition"]
    assert waits == "service_completed_successfully"
    assert "healthcheck" in services["postgres"]
    # Both run the same image with the same settings.
    assert services["migrate"]["image"] == services["callpool"]["image"]
    assert services["migrate"]["environment"] == services["callpool"]["environment"]


def test_the_asterisk_configs_it_mounts_exist_and_ami_is_not_published() -> None:
    services = load_compose(SECRETS)["services"]
    asterisk = services["asterisk"]
    binds = [v.split(":")[0] for v in asterisk["volumes"] if v.startswith("./")]
    assert len(binds) == 5
    for source in binds:
        # compose would create a missing source as an empty directory, silently.
        assert (REPO / source).is_file(), source
    assert "ports" not in asterisk
    # The AMI user may log in from the network callpool shares with Asterisk.
    subnet = load_compose(SECRETS)["networks"]["pbx"]["ipam"]["config"][0]["subnet"]
    assert asterisk["environment"]["AMI_PERMIT"] == subnet
    assert "pbx" in services["callpool"]["networks"]
