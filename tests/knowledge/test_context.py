"""What the knowledge base adds to any question: the page guide of the visitor's page and the
services the question names, with price and availability."""

from __future__ import annotations

import pytest

from chat.reply.universes import ContextRequest
from chat.signals import Asker
from knowledge.context import named_services, page_guide
from knowledge.models import NavigationHelp, Service

pytestmark = pytest.mark.django_db

VISITOR = Asker(user_id=None, visitor_key="v", kind="anonymous")


def ask(question: str, *, universe="general", url="") -> ContextRequest:
    return ContextRequest(
        question=question, universe=universe, asker=VISITOR, page={"url": url} if url else {}
    )


def test_the_page_guide_of_the_visitors_page_joins_any_universe():
    NavigationHelp.objects.create(
        url_pattern="/pricing/", title="Pricing", description="Plans and what each includes."
    )
    part = page_guide(ask("Which plan?", url="https://site.example/pricing/"))
    assert part is not None and "/pricing/ is the Pricing page" in part.text
    assert page_guide(ask("Which plan?", url="/pricing/", universe="navigation")) is None
    assert page_guide(ask("Which plan?", url="/nowhere/")) is None


def test_a_named_service_comes_with_its_price_and_availability():
    Service.objects.create(
        name="Website audit",
        slug="website-audit",
        description="We check.",
        price="490.00",
        availability="Booked two weeks ahead.",
    )
    part = named_services(ask("How long does a website audit take?"))
    assert part is not None and "Website audit" in part.text and "two weeks" in part.text
    assert named_services(ask("What is the weather?")) is None
    assert named_services(ask("website audit?", universe="services")) is None
