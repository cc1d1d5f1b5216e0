"""The trust decisions behind SetupIrsa, without AWS: provider ARN and condition keys from the
issuer, the statement to trust, merging it into an existing trust, the IRSA mistakes a trust can
have, and the role's default name."""

from __future__ import annotations

import copy
import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from eksops.irsa_trust import (
    issuer_host_path,
    lint_trust,
    merged_trust,
    pod_identity_statement,
    provider_arn,
    role_name,
    web_identity_statement,
)
from eksops.oidc_provider import STS_AUDIENCE
from eksops.service_role import policy_document
from hypothesis import given
from hypothesis import strategies as st

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/5C5A6B2E9F0D4B1C8E7F3A2D1C0B9A87"
HOST = "oidc.eks.eu-west-1.amazonaws.com/id/5C5A6B2E9F0D4B1C8E7F3A2D1C0B9A87"
ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST}"
SUBJECT = "system:serviceaccount:payments:ledger-writer"
OTHER_SERVICE = {  # a statement of someone else's that a merge must keep
    "Sid": "BreakGlass",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
    "Action": "sts:AssumeRole",
}


def statement(**changes: Any) -> dict[str, Any]:
    return {**web_identity_statement(PROVIDER, ISSUER, "payments", "ledger-writer"), **changes}


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# --- issuer, provider ARN, statements -------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    [ISSUER, f"{ISSUER}/", HOST],
    ids=["url", "trailing-slash", "already-bare"],
)
def test_issuer_host_path_drops_scheme_and_trailing_slash(issuer: str) -> None:
    assert issuer_host_path(issuer) == HOST


def test_provider_arn_is_how_iam_names_the_provider() -> None:
    assert provider_arn("aws", ACCOUNT, ISSUER) == PROVIDER
    assert (
        provider_arn("aws-cn", ACCOUNT, f"{ISSUER}/")
        == f"arn:aws-cn:iam::{ACCOUNT}:oidc-provider/{HOST}"
    )


def test_web_identity_statement_is_scoped_to_one_service_account_and_the_audience() -> None:
    assert web_identity_statement(PROVIDER, ISSUER, "payments", "ledger-writer") == {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {
                f"{HOST}:sub": SUBJECT,
                f"{HOST}:aud": "sts.amazonaws.com",
            }
        },
    }


def test_web_identity_statement_takes_another_audience() -> None:
    made = web_identity_statement(PROVIDER, f"{ISSUER}/", "payments", "ledger-writer", "vault")
    assert made["Condition"]["StringEquals"][f"{HOST}:aud"] == "vault"


def test_pod_identity_statement_trusts_the_pods_service() -> None:
    assert pod_identity_statement() == {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }


def test_policy_document_decodes_what_iam_returns() -> None:
    document = trust(statement())
    assert policy_document(quote(json.dumps(document))) == document
    assert policy_document(document) is document


# --- merging into an existing trust ---------------------------------------------------------------


def test_merge_into_no_trust_makes_a_new_document() -> None:
    assert merged_trust(None, statement()) == (trust(statement()), True)


def test_merge_adds_the_statement_and_keeps_the_others_untouched() -> None:
    existing = trust(OTHER_SERVICE, pod_identity_statement())
    before = copy.deepcopy(existing)
    merged, changed = merged_trust(existing, statement())
    assert changed
    assert merged == trust(OTHER_SERVICE, pod_identity_statement(), statement())
    assert existing == before  # the caller's document is not modified


def test_merge_keeps_a_single_statement_written_as_an_object() -> None:
    merged, changed = merged_trust(
        {"Version": "2012-10-17", "Statement": OTHER_SERVICE}, statement()
    )
    assert changed
    assert merged["Statement"] == [OTHER_SERVICE, statement()]


def test_merge_does_not_duplicate_an_equivalent_statement_of_another_shape() -> None:
    # what IAM gives back for the same trust: lists, other key order, a Sid, other case
    equivalent = {
        "Sid": "Irsa",
        "Condition": {
            "StringEquals": {
                f"{HOST}:AUD": ["sts.amazonaws.com"],
                f"{HOST}:sub": [SUBJECT],
            }
        },
        "Action": ["sts:assumerolewithwebidentity"],
        "Principal": {"Federated": [PROVIDER]},
        "Effect": "Allow",
    }
    existing = trust(OTHER_SERVICE, equivalent)
    merged, changed = merged_trust(existing, statement())
    assert not changed
    assert merged == trust(OTHER_SERVICE, equivalent)


def test_merge_of_pod_identity_recognises_a_reordered_action_list() -> None:
    existing = trust(
        {
            "Effect": "Allow",
            "Principal": {"Service": ["pods.eks.amazonaws.com"]},
            "Action": ["sts:TagSession", "sts:AssumeRole"],
        }
    )
    assert merged_trust(existing, pod_identity_statement()) == (existing, False)


@pytest.mark.parametrize(
    "near_miss",
    [
        statement(Condition={"StringEquals": {f"{HOST}:sub": SUBJECT}}),  # no aud
        statement(
            Condition={
                "StringEquals": {
                    f"{HOST}:sub": "system:serviceaccount:payments:other",
                    f"{HOST}:aud": STS_AUDIENCE,
                }
            }
        ),
        statement(Effect="Deny"),
        statement(Action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]),
        statement(Principal={"Federated": PROVIDER.replace(ACCOUNT, "210987654321")}),
        statement(NotPrincipal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
    ],
    ids=["missing-aud", "other-subject", "deny", "more-actions", "other-account", "not-principal"],
)
def test_merge_adds_the_statement_next_to_one_that_only_looks_alike(
    near_miss: dict[str, Any],
) -> None:
    merged, changed = merged_trust(trust(near_miss), statement())
    assert changed
    assert merged["Statement"] == [near_miss, statement()]


def test_merging_twice_changes_nothing_the_second_time() -> None:
    once, _ = merged_trust(trust(OTHER_SERVICE), statement())
    assert merged_trust(once, statement()) == (once, False)


# --- lint: the common IRSA mistakes ---------------------------------------------------------------


def lint(*statements: dict[str, Any]) -> list[str]:
    return lint_trust(trust(*statements), ISSUER, PROVIDER)


def conditions(keys: dict[str, Any], operator: str = "StringEquals") -> dict[str, Any]:
    return {operator: keys}


def test_a_correct_trust_has_no_warnings() -> None:
    assert lint(OTHER_SERVICE, statement(), pod_identity_statement()) == []


def test_statements_other_than_web_identity_are_not_linted() -> None:
    # no conditions at all, but not a web-identity trust (a Deny restricts, it cannot be too open)
    deny = {k: v for k, v in statement(Effect="Deny").items() if k != "Condition"}
    assert lint(OTHER_SERVICE, pod_identity_statement(), deny) == []


WRONG_ISSUER_KEYS = "oidc.eks.us-east-1.amazonaws.com/id/0000000000000000000000000000000A"
MISTAKES = {
    # name: (statement, words the one warning has)
    "provider-arn-keys": (
        statement(
            Condition=conditions({f"{PROVIDER}:sub": SUBJECT, f"{PROVIDER}:aud": STS_AUDIENCE})
        ),
        ["provider ARN", f"{PROVIDER}:sub", f"{PROVIDER}:aud", f"{HOST}:sub"],
    ),
    "partial-arn-keys": (
        statement(
            Condition=conditions(
                {f"oidc-provider/{HOST}:sub": SUBJECT, f"oidc-provider/{HOST}:aud": STS_AUDIENCE}
            )
        ),
        ["provider ARN", f"{HOST}:sub"],
    ),
    "swapped-host": (
        statement(
            Condition=conditions(
                {
                    "oidc.eu-west-1.eks.amazonaws.com/id/X:sub": SUBJECT,
                    "oidc.eu-west-1.eks.amazonaws.com/id/X:aud": STS_AUDIENCE,
                }
            )
        ),
        ["oidc.<region>.eks.amazonaws.com", f"{HOST}:sub"],
    ),
    "scheme-in-key": (
        statement(Condition=conditions({f"{ISSUER}:sub": SUBJECT, f"{HOST}:aud": STS_AUDIENCE})),
        ["https:// scheme", f"{ISSUER}:sub", f"{HOST}:sub"],
    ),
    "other-issuer-keys": (
        statement(
            Condition=conditions(
                {f"{WRONG_ISSUER_KEYS}:sub": SUBJECT, f"{WRONG_ISSUER_KEYS}:aud": STS_AUDIENCE}
            )
        ),
        ["another issuer", f"{HOST}:sub"],
    ),
    "malformed-subject": (
        statement(
            Condition=conditions(
                {f"{HOST}:sub": "system:serviceaccount:ledger-writer", f"{HOST}:aud": STS_AUDIENCE}
            )
        ),
        ["system:serviceaccount:ledger-writer", "not of the form", f"{HOST}:sub"],
    ),
    "wildcard-subject": (
        statement(
            Condition={
                "StringLike": {f"{HOST}:sub": "system:serviceaccount:payments:*"},
                "StringEquals": {f"{HOST}:aud": STS_AUDIENCE},
            }
        ),
        ["wildcard", "system:serviceaccount:payments:*", f"{HOST}:sub"],
    ),
    "single-char-wildcard": (
        statement(
            Condition={
                "StringLike": {f"{HOST}:sub": "system:serviceaccount:payments:ledger-writer-?"},
                "StringEquals": {f"{HOST}:aud": STS_AUDIENCE},
            }
        ),
        ["wildcard", "ledger-writer-?"],
    ),
    "no-subject": (
        statement(Condition=conditions({f"{HOST}:aud": STS_AUDIENCE})),
        ["no :sub", "any service account", f"{HOST}:sub"],
    ),
    "no-audience": (
        statement(Condition=conditions({f"{HOST}:sub": SUBJECT})),
        ["no :aud", f"{HOST}:aud", STS_AUDIENCE],
    ),
    "other-provider": (
        statement(
            Principal={"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{WRONG_ISSUER_KEYS}"}
        ),
        ["another OIDC provider", WRONG_ISSUER_KEYS, PROVIDER],
    ),
}


@pytest.mark.parametrize(("mistake", "words"), MISTAKES.values(), ids=MISTAKES.keys())
def test_each_mistake_is_one_warning_naming_the_statement_and_the_fix(
    mistake: dict[str, Any], words: list[str]
) -> None:
    warnings = lint(OTHER_SERVICE, mistake)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("statement #1: ")
    for word in words:
        assert word in warnings[0]


def test_a_warning_names_the_statement_by_its_sid() -> None:
    warnings = lint(statement(Sid="LedgerWriter", Condition=conditions({f"{HOST}:sub": SUBJECT})))
    assert warnings == [
        f'statement "LedgerWriter": no :aud condition; add StringEquals {HOST}:aud = '
        "sts.amazonaws.com"
    ]


def test_a_web_identity_statement_without_conditions_has_both_missing_conditions() -> None:
    bare = {k: v for k, v in statement().items() if k != "Condition"}
    warnings = lint(bare)
    assert len(warnings) == 2
    assert "no :sub" in warnings[0]
    assert "no :aud" in warnings[1]


def test_only_a_negated_subject_is_no_subject() -> None:
    negated = statement(
        Condition={
            "StringNotEquals": {f"{HOST}:sub": "system:serviceaccount:kube-system:default"},
            "StringEquals": {f"{HOST}:aud": STS_AUDIENCE},
        }
    )
    warnings = lint(negated)
    assert len(warnings) == 1
    assert warnings[0].startswith("statement #0: no :sub condition")


def test_string_like_without_wildcards_and_case_insensitive_keys_are_fine() -> None:
    exact = statement(
        Action=["sts:assumerolewithwebidentity"],
        Condition={
            "StringLike": {f"{HOST.lower()}:sub": [SUBJECT]},
            "StringEquals": {f"{HOST}:aud": STS_AUDIENCE},
        },
    )
    assert lint(exact) == []


def test_a_federated_principal_that_is_no_oidc_provider_is_left_alone() -> None:
    assert lint(statement(Principal={"Federated": "cognito-identity.amazonaws.com"})) == []


def test_this_clusters_provider_in_another_account_is_not_another_provider() -> None:
    # the host/path is what ties it to the cluster; an account mismatch is not a lint finding
    elsewhere = PROVIDER.replace(ACCOUNT, "210987654321")
    assert lint(statement(Principal={"Federated": [elsewhere]})) == []


def test_every_statement_is_linted_on_its_own() -> None:
    warnings = lint(
        statement(Sid="Good"),
        statement(Sid="NoAud", Condition=conditions({f"{HOST}:sub": SUBJECT})),
        statement(Condition=conditions({f"{HOST}:aud": STS_AUDIENCE})),
    )
    assert len(warnings) == 2
    assert warnings[0].startswith('statement "NoAud": no :aud')
    assert warnings[1].startswith("statement #2: no :sub")


def test_lint_reads_a_single_statement_object() -> None:
    document = {"Version": "2012-10-17", "Statement": statement(Condition=conditions({}))}
    assert len(lint_trust(document, ISSUER, PROVIDER)) == 2


# --- role names -----------------------------------------------------------------------------------

ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")


def test_short_role_names_are_the_plain_concatenation() -> None:
    assert (
        role_name("prod-eu", "payments", "ledger.writer") == "prod-eu-payments-ledger.writer-irsa"
    )
    assert (
        role_name("prod-eu", "payments", "ledger.writer", "pod-identity")
        == "prod-eu-payments-ledger.writer-pod-identity"
    )


def test_a_name_of_exactly_64_is_kept() -> None:
    service_account = "s" * (64 - len("prod-eu-payments--irsa"))
    assert role_name("prod-eu", "payments", service_account) == (
        f"prod-eu-payments-{service_account}-irsa"
    )


def test_long_role_names_are_shortened_with_a_hash_and_keep_the_suffix() -> None:
    name = role_name("prod-eu-central-analytics", "data-platform", "spark-history-server-reader")
    assert name == "prod-eu-central-analytics-data-platform-spark-hist-a1b5cbc3-irsa"
    assert len(name) == 64


def test_long_role_names_differing_only_at_the_end_stay_distinct_and_stable() -> None:
    first = role_name("prod-eu-central-analytics", "data-platform", "spark-history-server-a")
    second = role_name("prod-eu-central-analytics", "data-platform", "spark-history-server-b")
    assert first != second
    assert first == role_name(
        "prod-eu-central-analytics", "data-platform", "spark-history-server-a"
    )
    assert len(first) == len(second) == 64


def test_the_modes_name_different_roles_even_when_shortened() -> None:
    args = ("prod-eu-central-analytics", "data-platform", "spark-history-server-reader")
    assert role_name(*args, mode="irsa").endswith("-irsa")
    assert role_name(*args, mode="pod-identity").endswith("-pod-identity")
    assert len(role_name(*args, mode="pod-identity")) <= 64


def test_characters_iam_refuses_are_replaced_and_hashed() -> None:
    name = role_name("prod/eu", "payments", "ledger writer")
    assert name == "prod-eu-payments-ledger-writer-1bcc5acd-irsa"
    assert name != role_name("prod-eu", "payments", "ledger-writer")


def test_a_shortened_name_does_not_end_its_head_in_a_separator() -> None:
    cluster = "c" * 49  # the head is cut after 50 characters: right after "<cluster>-"
    name = role_name(cluster, "payments", "ledger-writer")
    assert re.fullmatch(rf"{cluster}-[0-9a-f]{{8}}-irsa", name)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of irsa, pod-identity"):
        role_name("prod-eu", "payments", "ledger-writer", "web-identity")


LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
CLUSTER = st.from_regex(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}", fullmatch=True)
SERVICE_ACCOUNT = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True)
MODE = st.sampled_from(["irsa", "pod-identity"])


@given(CLUSTER, LABEL, SERVICE_ACCOUNT, MODE)
def test_role_names_are_valid_stable_and_keep_what_fits(
    cluster: str, namespace: str, service_account: str, mode: str
) -> None:
    name = role_name(cluster, namespace, service_account, mode)
    assert ROLE_NAME.match(name)
    assert name == role_name(cluster, namespace, service_account, mode)
    suffix = "-irsa" if mode == "irsa" else "-pod-identity"
    full = f"{cluster}-{namespace}-{service_account}{suffix}"
    if len(full) <= 64:
        assert name == full
    else:
        assert re.fullmatch(rf".+-[0-9a-f]{{8}}{re.escape(suffix)}", name)
        assert full.startswith(name[: -len(suffix) - 9])


@given(CLUSTER, LABEL, SERVICE_ACCOUNT, SERVICE_ACCOUNT, MODE)
def test_distinct_full_names_give_distinct_role_names(
    cluster: str, namespace: str, first: str, second: str, mode: str
) -> None:
    if first != second:
        assert role_name(cluster, namespace, first, mode) != role_name(
            cluster, namespace, second, mode
        )
