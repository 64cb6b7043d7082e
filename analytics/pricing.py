"""What a reply cost: `ANALYTICS_PRICES` per million input and output tokens, per model.

The price is looked up when a reply is recorded and the cost is stored with it, so a later price
change never rewrites history. Models missing from the table (local models: llama.cpp, Ollama,
vLLM, the offline answer) cost nothing; cached answers cost nothing (no model was called).
Keys may be shell patterns (`claude-sonnet-4-5*`); an exact name wins over a pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase

from django.conf import settings

MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Price:
    input: Decimal  # per million input tokens
    output: Decimal  # per million output tokens


def price_for(model: str) -> Price | None:
    """The price of `model`, or None when it is not in the table (it then costs nothing)."""
    table = getattr(settings, "ANALYTICS_PRICES", {}) or {}
    entry = table.get(model)
    if entry is None:
        entry = next((v for k, v in table.items() if fnmatchcase(model, k)), None)
    if entry is None:
        return None
    if isinstance(entry, dict):
        return Price(Decimal(str(entry["input"])), Decimal(str(entry["output"])))
    return Price(Decimal(str(entry[0])), Decimal(str(entry[1])))


def reply_cost(
    *, provider: str, model: str, input_tokens: int, output_tokens: int, cached: bool
) -> Decimal:
    """The estimated cost of one reply, in `ANALYTICS_CURRENCY`."""
    if cached or provider == "offline":
        return ZERO
    price = price_for(model)
    if price is None:
        return ZERO
    return (Decimal(input_tokens) * price.input + Decimal(output_tokens) * price.output) / MILLION
