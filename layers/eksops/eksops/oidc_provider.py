"""The IAM OIDC provider of a cluster's service-account issuer (what IRSA trusts).

A new provider gets the thumbprint of the issuer's root CA when it can be computed
(``oidc_thumbprint``); IAM secures EKS issuers with its own trusted CAs either way, and
ThumbprintList is optional in the API since 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eksops.errors import NotYetConsistentError
from eksops.oidc_thumbprint import Thumbprint, issuer_thumbprint
from eksops.ownership import CREATED_BY_TAG, iam_tags, tag_map

STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class OidcProvider:
    arn: str
    issuer: str
    created: bool
    thumbprint: Thumbprint | None = None  # computed when this call created the provider

    def result(self) -> dict[str, Any]:
        result = {"oidcProviderArn": self.arn, "oidcIssuer": self.issuer, "created": self.created}
        return result | (self.thumbprint.result() if self.thumbprint else {})


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
    iam: Any,
    issuer: str,
    tags: dict[str, str],
    execution_id: str,
    audience: str = STS_AUDIENCE,
    thumbprint: Callable[[str], Thumbprint] = issuer_thumbprint,
) -> OidcProvider:
    """The provider for ``issuer``, created if missing; an existing one gets ``audience`` as a
    client ID if it lacks it (adding an audience changes nothing else that trusts the
    provider)."""
    arn, computed = find_provider(iam, issuer), None
    if arn is None:
        computed = thumbprint(issuer)
        try:
            arn = iam.create_open_id_connect_provider(
                Url=issuer,
                ClientIDList=[audience],
                ThumbprintList=[computed.value] if computed.value else [],
                Tags=iam_tags(tags),
            )["OpenIDConnectProviderArn"]
        except iam.exceptions.EntityAlreadyExistsException:  # made meanwhile: adopt it
            arn = find_provider(iam, issuer)
            if arn is None:
                raise NotYetConsistentError(
                    f"IAM says the provider of {issuer} exists, but does not list it"
                ) from None
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    if audience not in provider.get("ClientIDList", []):
        iam.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=arn, ClientID=audience
        )
    created = tag_map(provider.get("Tags", [])).get(CREATED_BY_TAG) == execution_id
    return OidcProvider(arn, issuer, created, computed)
