"""The JSON schemas of the workflows' and functions' inputs, as documented in docs/schemas/.

Generated from the models, so the documentation cannot drift from what is validated: a contract
test compares them, and `python -m eksops.local.schemas` rewrites them.
"""

from __future__ import annotations

import json

from eksops.local.handlers import PROJECT_ROOT
from eksops.models.base import EventModel
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.models.kubeconfig import KubeconfigEvent
from eksops.models.prune_rules import PruneInput, RestoreInput
from eksops.models.rebalance_nodegroups import RebalanceInput
from eksops.models.setup_irsa import SetupIrsaInput

SCHEMA_DIR = PROJECT_ROOT / "docs" / "schemas"
SCHEMAS: dict[str, type[EventModel]] = {
    "create-cluster-input": CreateClusterInput,
    "delete-cluster-input": DeleteClusterInput,
    "join-nodegroup-input": JoinNodegroupInput,
    "kubeconfig-event": KubeconfigEvent,
    "prune-security-group-rules-input": PruneInput,
    "restore-security-group-rules-input": RestoreInput,
    "setup-irsa-input": SetupIrsaInput,
    "rebalance-nodegroups-input": RebalanceInput,
}


def render(model: type[EventModel]) -> str:
    schema = model.model_json_schema(by_alias=True)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, model in SCHEMAS.items():
        (SCHEMA_DIR / f"{name}.schema.json").write_text(render(model), encoding="utf-8")
        print(f"wrote docs/schemas/{name}.schema.json")


if __name__ == "__main__":
    main()
