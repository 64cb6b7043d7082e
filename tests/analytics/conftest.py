"""Analytics tests group gap questions by word overlap unless a test asks for the real model."""

import pytest


@pytest.fixture(autouse=True)
def lexical_gaps(settings):
    settings.ANALYTICS_EMBEDDER = ""
