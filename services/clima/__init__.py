"""Clima: weather reports from HTTP through gRPC and brokers into Valkey."""

__version__ = "0.1.0"
