"""A third-party integration's config section, validated by ``medic check`` whatever its
model says: unknown keys are errors, and its name may not be one of Medic's own sections."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.integrations import config_sections

from pluginkit import InstallPlugin

EXAMPLE_PLUGIN = """\
from pydantic import BaseModel
from bot.plugins import ActionKind, ActionParams, Integration, StepContext, StepResult, action

class EchoConfig(BaseModel):          # as DESIGN section 9 writes it: no extra="forbid"
    greeting: str = "hello"

class SayParams(ActionParams):
    text: str

@action("{name}.say", kind=ActionKind.NOTIFY, integration="{name}")
async def say(ctx: StepContext, params: SayParams) -> StepResult:
    return StepResult(output={{"said": params.text}}, summary=f"said {{params.text}}")

integration = Integration(name="{name}", config=EchoConfig, actions=[say])
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEDIC_* variable leaks in from the machine."""
    for name in list(os.environ):
        if name.upper().startswith("MEDIC_"):
            monkeypatch.delenv(name)


def config_file(directory: Path, body: str) -> Path:
    """A medic.yaml with no shipped playbooks, then ``body``."""
    path = directory / "medic.yaml"
    path.write_text(f"playbooks: {{catalogues: []}}\n{body}")
    return path


def test_a_plugin_model_without_extra_forbid_still_refuses_unknown_keys(
    tmp_path: Path,
    install_plugin: InstallPlugin,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A plugin written like DESIGN's example (a plain ``BaseModel``, extra keys ignored by
    pydantic) gets its misspelt key refused by ``medic check``, from the file and from the
    environment, as everywhere in the config; its good section loads as its own model."""
    install_plugin("decho", EXAMPLE_PLUGIN.format(name="decho"))
    typo = config_file(tmp_path, "decho:\n  greetng: hi\n")
    assert main(["check", "--config", str(typo)]) == 1
    assert capsys.readouterr().err.splitlines() == [f"{typo}:3: decho.greetng: unknown key"]

    monkeypatch.setenv("MEDIC_DECHO__GREETNG", "hi")
    assert main(["check", "--config", str(config_file(tmp_path, ""))]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "<env>:0: decho.greetng: unknown key (from MEDIC_DECHO__GREETNG)"
    ]
    monkeypatch.delenv("MEDIC_DECHO__GREETNG")

    good = config_file(tmp_path, "decho:\n  greeting: hi\n")
    assert main(["check", "--config", str(good)]) == 0
    model = config_sections()["decho"]
    section = load_settings(good, config_sections()).section("decho")
    assert type(section) is model
    assert section.model_dump() == {"greeting": "hi"}


def test_a_plugin_named_after_a_core_section_is_refused(
    tmp_path: Path, install_plugin: InstallPlugin, capsys: pytest.CaptureFixture[str]
) -> None:
    """An integration named ``server`` (one of Medic's own sections) would never see its
    section, which Medic's model reads: discovery refuses it, ``medic check`` exits 1 with
    one line naming it."""
    install_plugin("server", EXAMPLE_PLUGIN.format(name="server"))
    assert main(["check", "--config", str(config_file(tmp_path, ""))]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "medic: integration server: 'server' is a section of Medic's own configuration; "
        "an integration needs a name of its own"
    ]
