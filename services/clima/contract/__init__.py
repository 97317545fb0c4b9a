"""The one door to the generated protobuf code of `proto/clima/v1`.

Everything else imports messages and stubs from here, so a regeneration or a move of the
generated code touches this module only.
"""

from clima.contract._pb.clima.v1 import clima_pb2 as _pb
from clima.contract._pb.clima.v1 import clima_pb2_grpc as _grpc
from clima.contract.catalogue import (
    MUNICIPALITIES,
    WEATHERS,
    Municipality,
    Weather,
    municipality_by_code,
    parse_municipality,
    parse_weather,
    weather_by_code,
)

Report = _pb.Report
ReportBatch = _pb.ReportBatch
Ack = _pb.Ack
ReportWriterStub = _grpc.ReportWriterStub
ReportWriterServicer = _grpc.ReportWriterServicer
add_ReportWriterServicer_to_server = _grpc.add_ReportWriterServicer_to_server  # noqa: N816
SERVICE_NAME = "clima.v1.ReportWriter"

__all__ = [
    "MUNICIPALITIES",
    "SERVICE_NAME",
    "WEATHERS",
    "Ack",
    "Municipality",
    "Report",
    "ReportBatch",
    "ReportWriterServicer",
    "ReportWriterStub",
    "Weather",
    "add_ReportWriterServicer_to_server",
    "municipality_by_code",
    "parse_municipality",
    "parse_weather",
    "weather_by_code",
]
