"""A host app that plugs a universe into chat from its ready(), as a real one would."""
