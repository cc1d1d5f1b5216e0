"""Contract: the SAM CLI accepts the template, and `sam build` (no Docker) produces arm64
artifacts of the intended shape and size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eksops.local.template import load_template

REPO = Path(__file__).resolve().parents[2]
SAM = REPO / ".venv" / "sam" / "bin" / "sam"
LAYER = "EksopsLayer"
# Unzipped bytes of a function plus its layers; Lambda's hard limit is 250 MB, ours is tighter.
SIZE_BUDGET = 50 * 1024 * 1024
ELF_MACHINE_AARCH64 = 183  # e_machine of an ELF file built for arm64


def _sam_env() -> dict[str, str]:
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    # The makefile builds run `python3 -m pip`: use the interpreter running the tests.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAM), *args],
        cwd=REPO,
        env=_sam_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def sam() -> Path:
    if not SAM.is_file():
        pytest.fail(f"SAM CLI not found at {SAM}: run `make sam-venv` first")
    return SAM


def test_sam_validate_lint(sam: Path) -> None:
    result = _run(["validate", "--lint", "--region", "us-east-1"], timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "valid SAM Template" in output, output


@pytest.fixture(scope="module")
def built(sam: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build` once for the module; yields the build directory."""
    root = tmp_path_factory.mktemp("sam-build")
    build_dir = root / "build"
    result = _run(
        [
            "build",
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(root / "cache"),
            "--template",
            "template.yaml",
        ],
        timeout=1800,
    )
    if result.returncode != 0:
        pytest.fail(f"sam build failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return build_dir


def _built_template(build_dir: Path) -> dict[str, Any]:
    return load_template(build_dir / "template.yaml")


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path.name} is not an ELF file"
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


@pytest.mark.slow
def test_layer_contents(built: Path) -> None:
    python = built / LAYER / "python"
    assert (python / "eksops" / "__init__.py").is_file(), "eksops is missing from the layer"
    assert not (python / "eksops" / "local").exists(), "eksops.local (moto) must not ship"
    extensions = sorted((python / "pydantic_core").glob("*aarch64*.so"))
    assert extensions, "no aarch64 pydantic_core extension: the layer is not built for arm64"
    for extension in extensions:
        assert _elf_machine(extension) == ELF_MACHINE_AARCH64, f"{extension.name} is not arm64"
    bundled = sorted(p.name for p in python.iterdir() if p.name.lower().startswith("boto"))
    assert not bundled, f"the Lambda runtime provides boto3/botocore: {bundled}"


@pytest.mark.slow
def test_function_sizes_within_budget(built: Path) -> None:
    template = _built_template(built)
    resources = template["Resources"]
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    functions = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"]
    assert functions, "the built template has no functions"
    over = []
    for logical_id in functions:
        properties = resources[logical_id]["Properties"]
        handler_module = properties["Handler"].rpartition(".")[0].replace(".", "/") + ".py"
        code_dir = built / properties["CodeUri"]
        assert (code_dir / handler_module).is_file(), f"{logical_id}: handler not in the build"
        sizes = {logical_id: _tree_size(code_dir)}
        for layer in properties.get("Layers", global_layers):
            assert isinstance(layer, dict), f"{logical_id}: layer {layer!r} is not built here"
            layer_id = layer["Ref"]
            content = built / resources[layer_id]["Properties"]["ContentUri"]
            assert content.is_dir(), f"{layer_id} was not built"
            sizes[layer_id] = _tree_size(content)
        total = sum(sizes.values())
        parts = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sizes.items())
        print(f"{logical_id}: {total:,} bytes unzipped ({parts})")
        if total > SIZE_BUDGET:
            over.append((logical_id, total))
    assert not over, f"over the {SIZE_BUDGET:,}-byte budget: {over}"
