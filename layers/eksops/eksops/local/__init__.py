"""The offline account: moto as AWS, the real handlers, for developers and tests (never shipped
in the Lambda layer)."""
