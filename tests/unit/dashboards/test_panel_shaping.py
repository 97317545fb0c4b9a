"""Panel results are shaped from Valkey replies the way the Redis data source and Grafana do."""

from clima.view import TimeRange, command_of, load_dashboard
from clima.view._dashboard import Target
from clima.view._plugin import stream_frame, wide_frame
from clima.view._queries import SeriesData, TableData, ValuesData, shape
from clima.view._snapshot import color_of
from clima.view._transform import transform


def _averages_reply() -> list[tuple[str, dict[str, str]]]:
    """clima:averages after three applies: interval 100 updated twice, interval 110 once."""
    return [
        ("100500-0", {"interval": "100", "temperature": "20.0000", "humidity": "50", "count": "1"}),
        ("100900-0", {"interval": "110", "temperature": "30.0000", "humidity": "70", "count": "2"}),
        ("101000-0", {"interval": "100", "temperature": "22.5000", "humidity": "55", "count": "4"}),
    ]


def test_stream_ranges_follow_the_time_range_unless_bounds_are_given() -> None:
    """Empty bounds become the dashboard range in ms; '+'/'-' and COUNT pass through."""
    span = TimeRange(1_000, 2_000)
    follows = Target("A", "xrange", "clima:averages")
    assert command_of(follows, span) == ["XRANGE", "clima:averages", "1000-0", "2000-0"]
    assert command_of(follows, None) == ["XRANGE", "clima:averages", "-", "+"]
    last10 = Target("A", "xrevrange", "clima:mixco", start="-", end="+", count=10)
    assert command_of(last10, span) == ["XREVRANGE", "clima:mixco", "+", "-", "COUNT", "10"]


def test_stream_frame_types_columns_by_their_first_value() -> None:
    """Numbers become number columns, others strings; missing keys are filled with 0 or ''."""
    frame = stream_frame(
        [
            ("5-0", {"temperature": "21.5", "weather": "Soleado"}),
            ("7-1", {"temperature": "x", "extra": "3"}),
        ]
    )
    columns = {f.name: (f.kind, f.values) for f in frame.fields}
    assert columns["$streamId"] == ("string", ["5-0", "7-1"])
    assert columns["$time"] == ("time", [5, 7])
    assert columns["temperature"] == ("number", [21.5, 0.0])
    assert columns["weather"] == ("string", ["Soleado", ""])
    assert columns["extra"] == ("number", [0.0, 3.0])


def test_hash_frame_is_one_row_with_a_field_per_hash_field() -> None:
    """HGETALL turns into one wide row; numeric values become numbers."""
    frame = wide_frame([("Soleado", "3"), ("note", "1_0"), ("Nublado", b"2")])
    assert [(f.name, f.kind, f.values) for f in frame.fields] == [
        ("Soleado", "number", [3.0]),
        ("note", "string", ["1_0"]),
        ("Nublado", "number", [2.0]),
    ]


def test_averages_panels_show_the_last_entry_of_each_interval() -> None:
    """Each interval is drawn once, at its start time, with its latest (final) mean and count."""
    board = load_dashboard()
    expected = {
        "Average temperature": {"Average temperature": [(100_000, 22.5), (110_000, 30.0)]},
        "Average humidity": {"Average humidity": [(100_000, 55.0), (110_000, 70.0)]},
        "Reports applied per interval": {"Reports applied": [(100_000, 4.0), (110_000, 2.0)]},
    }
    for title, series in expected.items():
        panel = board.panel(title)
        frame = transform(stream_frame(_averages_reply()), panel.transformations)
        assert shape(panel, [frame]) == SeriesData(series)


def test_averages_panels_are_empty_before_any_report() -> None:
    """An empty stream draws nothing instead of failing."""
    panel = load_dashboard().panel("Average temperature")
    frame = transform(stream_frame([]), panel.transformations)
    assert shape(panel, [frame]) == SeriesData({})


def test_table_hides_ids_and_names_columns() -> None:
    """The last-10 table shows event time, temperature, humidity and weather, top row first."""
    panel = load_dashboard().panel("Last 10 reports — Mixco")
    reply = [
        (
            "9-0",
            {"ts": "t9", "temperature": "20", "humidity": "50", "weather": "Soleado", "id": "b"},
        ),
        (
            "8-0",
            {"ts": "t8", "temperature": "19", "humidity": "40", "weather": "Nublado", "id": "a"},
        ),
    ]
    data = shape(panel, [transform(stream_frame(reply), panel.transformations)])
    assert data == TableData(
        ("Event time (UTC)", "Temperature (°C)", "Humidity (%)", "Weather"),
        (("t9", 20.0, 50.0, "Soleado"), ("t8", 19.0, 40.0, "Nublado")),
    )


def test_bars_and_totals_keep_the_dashboard_order_and_names() -> None:
    """Weather bars follow the catalogue order; totals are renamed; thresholds colour them."""
    board = load_dashboard()
    bars = board.panel("Reports per weather condition")
    reply = [("Neblinoso", "1"), ("Soleado", "4"), ("Nublado", "2")]
    data = shape(bars, [transform(wide_frame(reply), bars.transformations)])
    assert data == ValuesData({"Soleado": 4.0, "Nublado": 2.0, "Neblinoso": 1.0})
    assert list(data.values) == ["Soleado", "Nublado", "Neblinoso"]
    totals = board.panel("Pipeline totals")
    reply = [("dead_letters", "2"), ("applied", "10"), ("duplicates", "10")]
    data = shape(totals, [transform(wide_frame(reply), totals.transformations)])
    assert data == ValuesData({"Reports applied": 10.0, "Duplicates": 10.0, "Dead letters": 2.0})
    assert list(data.values) == ["Reports applied", "Duplicates", "Dead letters"]
    assert color_of(totals, "Dead letters", 2) == "#f2495c"
    assert color_of(totals, "Dead letters", 0) == color_of(totals, "Duplicates", 9) == "#73bf69"
