"""KubernetesSession against a real HTTPS server on 127.0.0.1 with its own CA."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import urllib3
from eksops.eks_cluster import ClusterEndpoint
from eksops.eks_token import TOKEN_PREFIX, EksToken, TokenRequest, get_token
from eksops.kubernetes_session import KubernetesSession
from eksops.local.clusters import create_cluster
from kubernetes import client
from moto import mock_aws

from tests.support.tls_server import Pki, Server, make_pki, serve

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def cluster_pki() -> Pki:
    return make_pki("cluster")


@pytest.fixture(scope="module")
def other_pki() -> Pki:
    return make_pki("other")


@pytest.fixture
def server(cluster_pki: Pki):
    with serve(cluster_pki) as info:
        yield info


@pytest.fixture
def foreign_server(other_pki: Pki):
    with serve(other_pki) as info:
        yield info


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class TokenSource:
    """Hands out k8s-aws-v1.token-1, -2, ... each expiring ``lifetime`` after minting."""

    def __init__(self, clock: FakeClock, lifetime: timedelta = timedelta(minutes=14)) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.minted = 0

    def __call__(self) -> EksToken:
        self.minted += 1
        return EksToken(f"{TOKEN_PREFIX}token-{self.minted}", self.clock() + self.lifetime)


def endpoint(url: str, pki: Pki) -> ClusterEndpoint:
    return ClusterEndpoint(
        "demo", "arn:aws:eks:us-east-1:123456789012:cluster/demo", url, pki.ca_data
    )


def test_version_over_verified_tls_with_bearer_token(server: Server, cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    with KubernetesSession(endpoint(server.url, cluster_pki), TokenSource(clock), clock) as session:
        api_client = session.api_client()
        assert api_client.configuration.host == server.url
        assert api_client.configuration.verify_ssl is True

        info = client.VersionApi(api_client).get_code()

    assert info.git_version == "v1.31.0"
    assert (info.major, info.minor) == ("1", "31")
    assert server.authorizations == [f"Bearer {TOKEN_PREFIX}token-1"]


def test_token_reused_until_refresh_margin_then_reminted(server: Server, cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    source = TokenSource(clock)
    with KubernetesSession(endpoint(server.url, cluster_pki), source, clock) as session:
        version_api = client.VersionApi(session.api_client())
        version_api.get_code()  # token-1 expires at T0 + 14 min
        clock.now = T0 + timedelta(minutes=12, seconds=59)
        version_api.get_code()
        clock.now = T0 + timedelta(minutes=13)  # expiration - 60 s
        version_api.get_code()  # token-2, expires at T0 + 27 min
        clock.now = T0 + timedelta(minutes=25, seconds=59)
        version_api.get_code()
        clock.now = T0 + timedelta(minutes=26, seconds=1)
        version_api.get_code()

    assert server.authorizations == [f"Bearer {TOKEN_PREFIX}token-{n}" for n in (1, 1, 2, 2, 3)]
    assert source.minted == 3


def test_custom_refresh_margin(server: Server, cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    session = KubernetesSession(
        endpoint(server.url, cluster_pki),
        TokenSource(clock),
        clock,
        refresh_margin=timedelta(minutes=5),
    )
    with session:
        version_api = client.VersionApi(session.api_client())
        version_api.get_code()
        clock.now = T0 + timedelta(minutes=9)
        version_api.get_code()

    assert server.authorizations == [f"Bearer {TOKEN_PREFIX}token-{n}" for n in (1, 2)]


def test_server_signed_by_another_ca_is_rejected(foreign_server: Server, cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    with KubernetesSession(
        endpoint(foreign_server.url, cluster_pki), TokenSource(clock), clock
    ) as session:
        api_client = session.api_client()
        api_client.configuration.retries = 0
        with pytest.raises(urllib3.exceptions.MaxRetryError) as excinfo:
            client.VersionApi(api_client).get_code()

    assert isinstance(excinfo.value.reason, urllib3.exceptions.SSLError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(excinfo.value.reason)
    assert foreign_server.authorizations == []  # the token never left the client


def test_ca_file_is_private_and_removed_on_close(cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    session = KubernetesSession(
        endpoint("https://127.0.0.1:1", cluster_pki), TokenSource(clock), clock
    )
    first = session.api_client()
    second = session.api_client()
    ca_file = Path(first.configuration.ssl_ca_cert)

    assert second.configuration.ssl_ca_cert == str(ca_file)
    assert stat.S_IMODE(ca_file.stat().st_mode) == 0o600
    assert ca_file.read_bytes() == cluster_pki.ca_pem

    session.close()
    assert not ca_file.exists()
    session.close()  # idempotent


def test_ca_file_removed_when_context_exits_with_error(cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    session = KubernetesSession(
        endpoint("https://127.0.0.1:1", cluster_pki), TokenSource(clock), clock
    )
    ca_files: list[Path] = []

    def fail_inside() -> None:
        with session:
            ca_files.append(Path(session.api_client().configuration.ssl_ca_cert))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_inside()

    assert ca_files
    assert not ca_files[0].exists()


def test_token_never_in_repr(cluster_pki: Pki) -> None:
    clock = FakeClock(T0)
    session = KubernetesSession(
        endpoint("https://127.0.0.1:1", cluster_pki), TokenSource(clock), clock
    )
    token = session.token()

    assert token not in repr(session)
    assert "token-" not in repr(session)
    assert token not in repr(session.__dict__)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize("pass_client", [True, False], ids=["given-client", "built-client"])
def test_for_cluster_against_moto(pass_client: bool) -> None:
    clock = FakeClock(T0)
    with mock_aws():
        cluster = create_cluster("demo", "us-east-1")
        eks = boto3.client("eks", region_name="us-east-1")
        session = KubernetesSession.for_cluster(
            TokenRequest("demo"), clock=clock, eks_client=eks if pass_client else None
        )
        with session:
            config = session.api_client().configuration
            assert config.host == cluster["endpoint"]
            assert session.cluster.arn == cluster["arn"]
            assert (
                session.cluster.certificate_authority_data
                == (cluster["certificateAuthority"]["data"])
            )
            # The token source mints for this cluster, locally (no role, so no STS call).
            expected = get_token(TokenRequest("demo"), clock=clock).token
            assert config.get_api_key_with_prefix("authorization") == f"Bearer {expected}"
            assert expected.startswith(TOKEN_PREFIX)
            assert config.refresh_api_key_hook is not None
