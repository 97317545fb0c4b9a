"""The api: HTTP in, validated reports out over gRPC, 202 once they are durable."""
