"""The `clima` command: one subcommand per process of the pipeline."""

import argparse
import os
import sys

from clima import wiring


def main(argv: list[str] | None = None) -> None:
    """Parses the subcommand and runs that process until it is told to stop."""
    parser = argparse.ArgumentParser(prog="clima", description="Run one Clima process.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("api", help=f"HTTP api on :{wiring.API_PORT} (POST /clima, /clima/batch)")
    sub.add_parser(
        "proxy",
        help=f"HTTP /tweet on :{wiring.PROXY_HTTP_PORT} "
        f"and gRPC pass-through on :{wiring.PROXY_GRPC_PORT}",
    )
    sub.add_parser(
        "writer",
        help=f"gRPC writer on :{wiring.WRITER_GRPC_PORT} publishing to Kafka and/or RabbitMQ",
    )
    consumer = sub.add_parser("consumer", help="apply reports from a broker to Valkey")
    consumer.add_argument("source", choices=wiring.BROKERS)
    consumer.add_argument(
        "--drain",
        action="store_true",
        help="exit 0 once the broker holds nothing more to apply (CLIMA_CONSUMER_DRAIN)",
    )
    sub.add_parser("view", help=f"local page of the dashboard's panels on :{wiring.VIEW_PORT}")
    sub.add_parser("operator", help="the Kubernetes operator (same as clima-operator)")
    args = parser.parse_args(argv)
    if args.command == "api":
        from clima.api.server import main as run_api

        run_api()
    elif args.command == "proxy":
        from clima.proxy.server import main as run_proxy

        run_proxy()
    elif args.command == "writer":
        from clima.writer.server import main as run_writer

        run_writer()
    elif args.command == "consumer":
        from clima.consumers.run import main as run_consumer

        run_consumer(args.source, drain=args.drain)
    elif args.command == "view":
        from clima.view.server import main as run_view

        run_view()
    else:
        # the operator is its own program; services never import it
        os.execvp("clima-operator", ["clima-operator", *sys.argv[2:]])  # noqa: S606, S607
