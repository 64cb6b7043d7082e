"""A host app as a site would write one: it plugs a universe and a context source into chat
from its AppConfig.ready(), and nothing else (tests/chat/test_universes.py)."""
