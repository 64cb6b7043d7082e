"""A server process listens only once knowledge search is warm (config/asgi.py).

Behind the balancer, a process that accepts a connection must answer its first question at once:
the model, the index and the router's examples load before daphne binds its port.
"""

from __future__ import annotations

import json

import pytest

from tests.live import LiveServer, migrate_db

pytestmark = pytest.mark.slow


def logged_events(server: LiveServer) -> list[str]:
    lines = server.log_tail(1_000_000).splitlines()
    return [json.loads(line).get("event", "") for line in lines if line.startswith("{")]


def test_the_port_opens_only_after_the_warm_up(tmp_path):
    db_path = tmp_path / "db.sqlite3"
    env = {"KNOWLEDGE_WARM_UP": "true", "LOG_LEVEL": "INFO", "LOG_JSON": "true"}
    migrate_db(db_path, env=env)
    with LiveServer(db_path=db_path, env=env) as server:
        # start() has returned: the port answered its first request just now.
        events = logged_events(server)
    assert "knowledge_warmed_up" in events, server.log_tail()
    assert "knowledge_index_built" in events[: events.index("knowledge_warmed_up")]
