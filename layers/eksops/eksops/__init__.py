"""eksops: the library behind the Lambda steps, the CLI and the tests.

Kept import-free so `eksops token` starts fast: import the module you need.
"""
