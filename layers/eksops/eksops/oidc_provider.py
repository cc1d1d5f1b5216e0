"""The IAM OIDC provider of a cluster's service-account issuer (what IRSA trusts).

No thumbprint is sent: IAM secures EKS issuers (and any issuer whose certificate chains to a
public root) with its own trusted CAs, and ThumbprintList is optional in the API since 2024.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.ownership import CREATED_BY_TAG, iam_tags, tag_map

STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class OidcProvider:
    arn: str
    issuer: str
    created: bool

    def result(self) -> dict[str, Any]:
        return {"oidcProviderArn": self.arn, "oidcIssuer": self.issuer, "created": self.created}


def provider_path(issuer: str) -> str:
    """How IAM names a provider: the issuer URL without its scheme."""
    return issuer.removeprefix("https://")


def find_provider(iam: Any, issuer: str) -> str | None:
    suffix = f":oidc-provider/{provider_path(issuer)}"
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        if provider["Arn"].endswith(suffix):
            return provider["Arn"]
    return None


def ensure_oidc_provider(
    iam: Any, issuer: str, tags: dict[str, str], execution_id: str
) -> OidcProvider:
    """The provider for ``issuer``, created if missing; an existing one gets the STS audience
    if it lacks it (adding an audience changes nothing else that trusts the provider)."""
    arn = find_provider(iam, issuer)
    if arn is None:
        try:
            arn = iam.create_open_id_connect_provider(
                Url=issuer, ClientIDList=[STS_AUDIENCE], Tags=iam_tags(tags)
            )["OpenIDConnectProviderArn"]
        except iam.exceptions.EntityAlreadyExistsException:  # made meanwhile
            return ensure_oidc_provider(iam, issuer, tags, execution_id)
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    if STS_AUDIENCE not in provider.get("ClientIDList", []):
        iam.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=arn, ClientID=STS_AUDIENCE
        )
    created = tag_map(provider.get("Tags", [])).get(CREATED_BY_TAG) == execution_id
    return OidcProvider(arn, issuer, created)
