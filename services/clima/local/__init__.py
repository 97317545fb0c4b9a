"""Runs the whole pipeline on one machine as local processes (for `make up` and tests)."""

from clima.local._pipeline import LocalPipeline, Ports, free_port, read_infra_env
from clima.local._traffic import seed_body

__all__ = ["LocalPipeline", "Ports", "free_port", "read_infra_env", "seed_body"]
