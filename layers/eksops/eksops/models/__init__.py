"""Typed inputs of the Lambda steps, validated at the edge (Pydantic)."""
