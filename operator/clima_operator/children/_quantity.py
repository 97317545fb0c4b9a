"""Kubernetes quantities (``2Gi``, ``512M``, ``1e3``) as numbers, for comparing sizes the
API server may have written another way (``2048Mi`` comes back as ``2Gi``)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIXES = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip
_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)(|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$")


def quantity_bytes(quantity: str) -> int | None:
    """A Kubernetes quantity of bytes, or None when it is not one this reads."""
    match = _QUANTITY.match(quantity)
    if match is None:
        return None
    try:
        return int(Decimal(match.group(1)) * _SUFFIXES[match.group(2)])
    except InvalidOperation:
        return None
