"""No drift between the code and the template: every table, index, queue, secret and environment
variable the code uses exists in the template, nothing the template sets goes unread, and the
local stack is built from the very resources the deploy uses."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.local.resources import LOCAL_RESOURCE_TYPES, load_template, local_template
from tests.infra.conftest import ROOT, functions, of_type

pytestmark = pytest.mark.infra

# Settings that name an AWS resource (as opposed to tuning knobs with safe defaults).
RESOURCE_SETTING = re.compile(
    r"^HERALD_\w+_(TABLE|QUEUE|BUCKET|TOPIC|CONFIGURATION_SET|KEY_SECRET|TOKEN_SECRET)$"
)


def _settings_env() -> set[str]:
    source = (ROOT / "chalicelib" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r'_env\(\s*"(HERALD_\w+)"', source))


def _template_env(template: dict[str, Any]) -> dict[str, set[str]]:
    """Env var -> the functions that get it (Globals count for all)."""
    everyone = set(functions(template))
    found: dict[str, set[str]] = {
        name: set(everyone)
        for name in template.get("Globals", {})
        .get("Function", {})
        .get("Environment", {})
        .get("Variables", {})
    }
    for function_id, function in functions(template).items():
        for name in function["Properties"].get("Environment", {}).get("Variables", {}):
            found.setdefault(name, set()).add(function_id)
    return found


def test_every_resource_setting_is_set_by_the_template(template: dict[str, Any]) -> None:
    resource_settings = {name for name in _settings_env() if RESOURCE_SETTING.match(name)}
    assert {
        "HERALD_ACCOUNTS_TABLE",
        "HERALD_SEND_QUEUE",
        "HERALD_SENDGRID_API_KEY_SECRET",
    } <= resource_settings
    missing = resource_settings - set(_template_env(template))
    assert not missing, f"the code reads {sorted(missing)}, which no function's environment sets"


def test_every_herald_variable_the_template_sets_is_read(template: dict[str, Any]) -> None:
    read = _settings_env()
    unread = {name for name in _template_env(template) if name.startswith("HERALD_")} - read
    assert not unread, f"the template sets {sorted(unread)}, which settings.py never reads"


def test_every_index_the_adapters_query_exists(template: dict[str, Any]) -> None:
    used = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        used.update(re.findall(r'IndexName["\']?\s*[:=]\s*["\'](\w+)["\']', path.read_text(encoding="utf-8")))
    assert "by_created" in used
    declared = {
        index["IndexName"]
        for table in of_type(template, "AWS::DynamoDB::Table").values()
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
        for index in table["Properties"].get(kind, [])
    }
    assert used <= declared, f"queried but not declared: {sorted(used - declared)}"


def test_local_stack_uses_the_deployed_definitions(template: dict[str, Any]) -> None:
    local = local_template()["Resources"]
    deployed = {k: r for k, r in template["Resources"].items() if r["Type"] in LOCAL_RESOURCE_TYPES}
    assert local == deployed
    assert {"AWS::DynamoDB::Table", "AWS::SQS::Queue"} <= {r["Type"] for r in local.values()}
    assert set(local) < set(load_template()["Resources"])
