"""`make bench`: eksops against its baselines, measured in one run on this machine.

1. `eksops token` wall time, cold (empty cache) and cached, against `aws eks get-token` with the
   same fake credentials: interleaved runs, medians, ratios.
2. Each handler's cold import in a fresh interpreter with Lambda's environment (Powertools'
   Tracer behaves as in Lambda), against a bare interpreter start.
3. Each function's unzipped size with its layers, from a fresh `sam build`.
4. CreateClusterStateMachine on the offline account, time-scaled: how late it notices a cluster
   become ACTIVE, with its polls, Lambda invocations and state transitions, against CDK's
   one-minute polling for the same creation times (benchmarks/cluster_creation.py).
5. PruneSecurityGroupRulesStateMachine on the offline account, 200 groups x 50 rules (about 60 %
   stale): API calls by operation against the floor, wall time, and the same figures for Cloud
   Custodian's remove-permissions on the same fixture, with the rules each removed
   (benchmarks/prune_rules.py; c7n in its own venv, .venv/c7n, installed on first use).
6. The AZ-skew planner of RebalanceNodegroupsStateMachine on 1,000 nodes in 3 AZs: time per
   plan against its 50 ms budget, moves against the minimum found by brute force
   (benchmarks/az_skew.py).
7. Fault tolerance: the demo's cluster workflows run with 20 % of their steps' AWS and Kubernetes
   calls failing (the offline account's fault injector), successes out of the runs, faults and
   retries, against the same runs without faults (benchmarks/fault_tolerance.py; BENCH_FAULT_RUNS
   runs, default 100).

Not part of `make test`: numbers vary with the machine; tests assert behaviour, not time.
"""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from eksops.local.template import load_template

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
MB = 1024 * 1024
FAKE_CREDENTIALS = {  # AWS's documentation example keys: nothing here reaches AWS
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}


def timed(command: Sequence[str], env: dict[str, str], before: Callable[[], None]) -> float:
    before()
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def bench_token(env: dict[str, str], cache_dir: Path) -> None:
    args = ["--cluster-name", "bench", "--region", "us-west-2"]
    eksops = [str(BIN / "eksops"), "token", *args]
    aws = [str(BIN / "aws"), "eks", "get-token", *args]

    def empty_cache() -> None:
        shutil.rmtree(cache_dir, ignore_errors=True)

    def warm_cache() -> None:
        if not cache_dir.exists():
            subprocess.run(eksops, env=env, stdout=subprocess.DEVNULL, check=True)

    cases: dict[str, tuple[Sequence[str], Callable[[], None]]] = {
        "aws eks get-token": (aws, empty_cache),
        "eksops token (cold)": (eksops, empty_cache),
        "eksops token (cached)": (eksops, warm_cache),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(RUNS):  # interleaved, so drift in machine load hits every case alike
        for name, (command, before) in cases.items():
            samples[name].append(timed(command, env, before))
    baseline = statistics.median(samples["aws eks get-token"])
    print(f"\n## eksops token vs aws eks get-token ({RUNS} interleaved runs each, medians)")
    print(f"{'command':26} {'median':>9} {'min':>9} {'ratio':>7}  target")
    targets = {"eksops token (cold)": "<= 0.20x", "eksops token (cached)": "<= 0.05x"}
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"{name:26} {median * 1000:7.1f}ms {min(values) * 1000:7.1f}ms "
            f"{median / baseline:6.3f}x  {targets.get(name, 'baseline')}"
        )


def lambda_env(env: dict[str, str], function: str) -> dict[str, str]:
    template = load_template(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {
        **env,
        **{k: v for k, v in variables.items() if isinstance(v, str)},
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / function),
        "_HANDLER": "app.lambda_handler",
    }


# The runtime's own packages (boto3 and what it needs): Lambda provides them in /var/runtime.
RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "python-dateutil",
    "six",
)

IMPORT_PROBE = """\
import sys, time
sys.path[:0] = {path!r}
{setup}
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
print(elapsed, "kubernetes" in sys.modules, "botocore" in sys.modules)
"""


# What Powertools' Tracer imports: the X-Ray SDK, and botocore to patch it.
XRAY_IMPORTS = "import aws_xray_sdk.core, aws_xray_sdk.ext.botocore.patch"


def lambda_sys_path(work: Path) -> tuple[Path, Path]:
    """The layer's pinned packages and the runtime's boto3, for this machine's interpreter, in
    two folders: what a function's sys.path holds in Lambda (no dev packages), compiled."""
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    )
    layer, runtime = work / "layer", work / "runtime"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    layer_requirements = ROOT / "layers" / "eksops" / "requirements.txt"
    quiet = {"check": True, "stderr": subprocess.DEVNULL}
    subprocess.run([*install, str(layer), "-r", str(layer_requirements)], **quiet)
    shutil.copytree(ROOT / "layers" / "eksops" / "eksops", layer / "eksops")
    shutil.rmtree(layer / "eksops" / "local")
    runtime_pins = [f"{name}=={pins[name]}" for name in RUNTIME_PACKAGES]
    subprocess.run([*install, str(runtime), *runtime_pins], **quiet)
    for folder in (layer, runtime):
        compileall.compile_dir(folder, quiet=1)
    return layer, runtime


def probe_import(
    statement: str, path: list[str], env: dict[str, str], setup: str = ""
) -> tuple[float, bool, bool]:
    """Seconds ``statement`` takes in a fresh interpreter after ``setup``, and whether the
    kubernetes client and botocore were imported."""
    code = IMPORT_PROBE.format(path=path, statement=statement, setup=setup)
    # -S: no site-packages, so only the Lambda-like path is importable
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), out[1] == "True", out[2] == "True"


def bench_imports(env: dict[str, str], work: Path) -> None:
    layer, runtime = lambda_sys_path(work)
    bare = [timed([sys.executable, "-S", "-c", "pass"], env, lambda: None) for _ in range(RUNS)]
    print(
        f"\n## handler cold import ({RUNS} fresh interpreters each; Lambda's environment and "
        "sys.path: function, layer, runtime boto3)"
    )
    print(f"bare interpreter start: {statistics.median(bare) * 1000:.1f} ms (not included below)")
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        function = app.parent.name
        path = [str(app.parent), str(layer), str(runtime)]
        function_env = lambda_env(env, function)
        results = [probe_import("import app", path, function_env) for _ in range(RUNS)]
        median = statistics.median(r[0] for r in results)
        kubernetes, botocore = results[0][1], results[0][2]
        target = 300 if kubernetes else 200
        print(
            f"{function:20} {median * 1000:7.1f} ms  (kubernetes client: "
            f"{'yes' if kubernetes else 'no'}, botocore: {'yes' if botocore else 'no'}; "
            f"target <= {target} ms)"
        )
        rest = [
            probe_import("import app", path, function_env, XRAY_IMPORTS)[0] for _ in range(RUNS)
        ]
        print(
            f"{'':20} {statistics.median(rest) * 1000:7.1f} ms  of it without the X-Ray SDK and "
            "its botocore patch (imported before timing)"
        )
    for module, why in [
        ("aws_xray_sdk.core", "Powertools Tracer's X-Ray SDK, which imports botocore"),
        ("botocore.session", "in the runtime; the X-Ray SDK's sampler imports it"),
        ("pydantic", "event models"),
        ("aws_lambda_powertools.logging", "Logger"),
    ]:
        path = [str(layer), str(runtime)]
        seconds = [probe_import(f"import {module}", path, env)[0] for _ in range(5)]
        print(f"  `import {module}` alone: {statistics.median(seconds) * 1000:6.1f} ms ({why})")


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def bench_sizes(env: dict[str, str]) -> None:
    sam = ROOT / ".venv" / "sam" / "bin" / "sam"
    with tempfile.TemporaryDirectory() as build, tempfile.TemporaryDirectory() as cache:
        result = subprocess.run(
            [str(sam), "build", "--build-dir", build, "--cache-dir", cache],
            cwd=ROOT,
            env={**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}", "SAM_CLI_TELEMETRY": "0"},
            capture_output=True,
            text=True,
        )
        if result.returncode:
            sys.exit(f"sam build failed:\n{result.stdout}{result.stderr}")
        built = load_template(Path(build) / "template.yaml")
        resources = built["Resources"]
        globals_layers = built.get("Globals", {}).get("Function", {}).get("Layers", [])
        print("\n## unzipped size of each function with its layers (fresh sam build)")
        for name, resource in sorted(resources.items()):
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            layers = resource["Properties"].get("Layers", []) + globals_layers
            # the built template writes !Ref as {"Ref": ...}
            layer_ids = [layer["Ref"] if isinstance(layer, dict) else layer for layer in layers]
            total = tree_size(Path(build) / name) + sum(
                tree_size(Path(build) / layer) for layer in layer_ids
            )
            print(f"{name:24} {total / MB:6.1f} MB  (with {', '.join(layer_ids)}; target <= 50 MB)")


def bench_script(env: dict[str, str], name: str, *args: str) -> None:
    """benchmarks/<name> in its own interpreter: the offline account it may start is
    process-wide (moto)."""
    sys.stdout.flush()  # what is printed so far comes first
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], env=env, check=True)


def main() -> int:
    compileall.compile_dir(ROOT / "layers" / "eksops" / "eksops", quiet=1)  # as `pip install`
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
        env.update(
            HOME=home,
            **FAKE_CREDENTIALS,
            AWS_DEFAULT_REGION="us-west-2",
            AWS_CONFIG_FILE=f"{home}/config",
            AWS_SHARED_CREDENTIALS_FILE=f"{home}/credentials",
            EKSOPS_CACHE_DIR=f"{home}/cache",
        )
        print(f"eksops benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        bench_token(env, Path(home) / "cache")
        bench_imports(env, Path(home))
        bench_sizes(env)
        for script in ("cluster_creation.py", "prune_rules.py", "az_skew.py"):
            bench_script(env, script)
        bench_script(env, "fault_tolerance.py", "--runs", os.environ.get("BENCH_FAULT_RUNS", "100"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
