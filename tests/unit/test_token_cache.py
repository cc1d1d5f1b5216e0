"""`eksops token`'s cache: reuse until 60 s before expiry, keyed by everything that changes the
token, private files written atomically; and the cached path answers exactly as a fresh mint."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from eksops import cli, exec_credential
from eksops.token_cache import CachedToken, TokenCache, cache_key

NOW = datetime.now(UTC).replace(microsecond=0)


def run_token(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert cli.main(["token", "--cluster-name", "c1", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_second_call_is_served_from_cache(aws_env, capsys) -> None:
    first = run_token(capsys)
    with mock.patch("eksops.eks_token.resolve_signer", side_effect=AssertionError("minted")):
        second = run_token(capsys)
    assert second == first
    files = list((aws_env / "cache").iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((aws_env / "cache").stat().st_mode) == 0o700


def test_token_reminted_within_a_minute_of_expiry(aws_env, capsys) -> None:
    first = run_token(capsys)
    expires = datetime.fromisoformat(first["status"]["expirationTimestamp"]).timestamp()
    with mock.patch("eksops.cli.time.time", return_value=expires - 61):
        assert run_token(capsys) == first
    later = datetime.now(UTC) + timedelta(minutes=14)
    with (
        mock.patch("eksops.cli.time.time", return_value=expires - 59),
        mock.patch("eksops.eks_token.utc_now", return_value=later),
    ):
        fresh = run_token(capsys)
    assert fresh["status"]["token"] != first["status"]["token"]
    assert fresh["status"]["expirationTimestamp"] > first["status"]["expirationTimestamp"]


def test_clock_earlier_than_signing_mints_afresh(aws_env, capsys) -> None:
    """A clock set back (or frozen in the past) never gets a token signed in its future."""
    first = run_token(capsys)
    past = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    with (
        mock.patch("eksops.cli.time.time", return_value=past.timestamp()),
        mock.patch("eksops.eks_token.utc_now", return_value=past),
    ):
        again = run_token(capsys)
    assert again["status"]["expirationTimestamp"] == "2025-01-01T12:14:00Z"
    assert again["status"]["token"] != first["status"]["token"]


@pytest.mark.parametrize(
    "change",
    [
        {"args": ["--region", "eu-west-1"]},
        {"args": ["--profile", "other"]},
        {"env": {"AWS_ACCESS_KEY_ID": "AKIDOTHER"}},
        {"env": {"AWS_SESSION_TOKEN": "rotated"}},
        {"env": {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}},
    ],
)
def test_anything_that_changes_the_token_changes_the_key(aws_env, change) -> None:
    base = [None] * len(cli.TOKEN_OPTIONS)
    base[0] = "c1"
    before = cache_key(base, os.environ)
    options = list(base)
    args = change.get("args", [])
    for name, value in zip(args[::2], args[1::2], strict=True):
        options[cli.TOKEN_OPTIONS.index(name)] = value
    with mock.patch.dict(os.environ, change.get("env", {})):
        assert cache_key(options, os.environ) != before


def test_editing_the_aws_config_invalidates(aws_env) -> None:
    options = ["c1", None, None, None, None, None]
    before = cache_key(options, os.environ)
    (aws_env / ".aws").mkdir()
    (aws_env / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n")
    assert cache_key(options, os.environ) != before


def test_corrupt_or_unwritable_cache_only_costs_speed(aws_env, capsys) -> None:
    first = run_token(capsys)
    (cached,) = (aws_env / "cache").iterdir()
    cached.write_text("garbage")
    assert run_token(capsys)["status"]["token"].startswith("k8s-aws-v1.")
    blocked = aws_env / "blocked"
    blocked.write_text("a file where the cache directory should be")
    with mock.patch.dict(os.environ, {"EKSOPS_CACHE_DIR": str(blocked / "tokens")}):
        assert run_token(capsys)["kind"] == first["kind"]


def test_no_cache_writes_nothing(aws_env, capsys) -> None:
    run_token(capsys, "--no-cache")
    assert not (aws_env / "cache").exists()


def test_put_leaves_no_temporary_files(tmp_path: Path) -> None:
    cache = TokenCache(str(tmp_path))
    for i in range(5):
        cache.put("key", CachedToken(f"k8s-aws-v1.t{i}", "2030-01-01T00:00:00Z", 1.7e9, 1.9e9))
    assert [p.name for p in tmp_path.iterdir()] == ["key"]
    assert cache.get("key", time.time()).token == "k8s-aws-v1.t4"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["token", "--cluster-name", "c1"], {"--cluster-name": "c1"}),
        (
            ["token", "--cluster-name=c1", "--region", "eu-west-1"],
            {"--cluster-name": "c1", "--region": "eu-west-1"},
        ),
        (["token", "--region", "eu-west-1"], None),  # no cluster: argparse reports it
        (["token", "--cluster-name", "c1", "--no-cache"], None),
        (["token", "--cluster", "c1"], None),  # abbreviations are argparse's business
        (["token", "--cluster-name"], None),
        (["token", "--cluster-name", "c1", "--cluster-name", "c2"], None),
        (["token", "--cluster-name", "--region"], None),
        (["kubeconfig", "--cluster-name", "c1"], None),
        (["token", "-h"], None),
        ([], None),
    ],
)
def test_fast_path_takes_only_plain_token_calls(argv, expected) -> None:
    assert cli._simple_token_options(argv) == expected


@pytest.mark.parametrize(
    "values",
    [
        ("client.authentication.k8s.io/v1", "2026-11-22T09:44:15Z", "k8s-aws-v1.aHR0cHM6Ly9zdHM"),
        ("client.authentication.k8s.io/v1beta1", "2026-11-22T09:44:15Z", 'quote"back\\slash'),
        ("client.authentication.k8s.io/v1beta1", "2026-11-22T09:44:15Z", "ünïcode\u2028"),
    ],
)
def test_rendering_matches_the_aws_cli_json_formatter(values) -> None:
    version, timestamp, token = values
    document = {
        "kind": "ExecCredential",
        "apiVersion": version,
        "spec": {},
        "status": {"expirationTimestamp": timestamp, "token": token},
    }
    expected = json.dumps(document, indent=4, ensure_ascii=False) + "\n\n"
    assert exec_credential.render(token, timestamp, version) == expected


def test_installed_command_cached_equals_fresh(aws_env) -> None:
    """The console script, as kubectl runs it: a cache hit prints what the mint printed."""
    command = [str(Path(sys.executable).with_name("eksops")), "token", "--cluster-name", "c1"]
    env = {
        **os.environ,
        "KUBERNETES_EXEC_INFO": json.dumps(
            {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1", "spec": {}},
            separators=(",", ":"),
        ),
    }
    fresh = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    cached = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert cached.stdout == fresh.stdout
    assert json.loads(cached.stdout)["apiVersion"] == "client.authentication.k8s.io/v1"
    assert cached.stderr == fresh.stderr == ""
