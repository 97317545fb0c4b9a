"""The catalogue resolves codes and names the way clients send them."""

import pytest

from clima.contract import parse_municipality, parse_weather


@pytest.mark.parametrize("value", [3, "amatitlan", "Amatitlán", "AMATITLAN", " amatitlán "])
def test_municipality_aliases(value: int | str) -> None:
    """Codes, slugs and display names in any case and accent resolve to one municipality."""
    assert parse_municipality(value).slug == "amatitlan"


@pytest.mark.parametrize(
    ("value", "name"), [(1, "Soleado"), ("foggy", "Neblinoso"), ("NUBLADO", "Nublado")]
)
def test_weather_aliases(value: int | str, name: str) -> None:
    """English keys and Spanish names resolve; foggy is Neblinoso, not the seed's Ventoso."""
    assert parse_weather(value).name == name


@pytest.mark.parametrize("value", [0, 5, "lima", "", True])
def test_unknown_values_name_the_choices(value: int | str) -> None:
    """Unknown codes and names raise an error listing what is accepted."""
    with pytest.raises(ValueError, match="mixco, guatemala, amatitlan, chinautla"):
        parse_municipality(value)
