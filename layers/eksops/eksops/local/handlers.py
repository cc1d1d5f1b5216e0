"""Run the project's real Lambda handlers in-process, as the Lambda runtime would import them."""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[4]
FUNCTIONS_DIR = PROJECT_ROOT / "functions"


@dataclass
class LambdaContext:
    """The attributes Powertools and handlers read from the runtime's context object."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    deadline_ms: int = 0  # epoch milliseconds; 0: 30 s from now

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = (
                f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
            )
        if not self.deadline_ms:
            self.deadline_ms = int(time.time() * 1000) + 30_000

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def load_module(function: str) -> ModuleType:
    """Import ``functions/<function>/app.py`` under a unique module name."""
    path = FUNCTIONS_DIR / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"eksops_function_{function}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def handler(function: str) -> Callable[[dict[str, Any], LambdaContext], Any]:
    return load_module(function).lambda_handler
