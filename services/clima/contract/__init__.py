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
from clima.contract.service import (
    METHODS,
    SERVICE_NAME,
    Forward,
    Undecodable,
    add_forwarding_service,
    add_writer_service,
    refuse_undecodable,
)

Report = _pb.Report
ReportBatch = _pb.ReportBatch
Ack = _pb.Ack
ReportWriterStub = _grpc.ReportWriterStub
ReportWriterServicer = _grpc.ReportWriterServicer

__all__ = [
    "METHODS",
    "MUNICIPALITIES",
    "SERVICE_NAME",
    "WEATHERS",
    "Ack",
    "Forward",
    "Municipality",
    "Report",
    "ReportBatch",
    "ReportWriterServicer",
    "ReportWriterStub",
    "Undecodable",
    "Weather",
    "add_forwarding_service",
    "add_writer_service",
    "municipality_by_code",
    "parse_municipality",
    "parse_weather",
    "refuse_undecodable",
    "weather_by_code",
]
