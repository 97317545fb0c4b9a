"""The proxy: HTTP /tweet and a gRPC pass-through in front of the writer."""
