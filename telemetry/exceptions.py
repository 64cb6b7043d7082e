"""Errors the telemetry app raises."""


class TelemetryError(Exception):
    """Base class for telemetry errors."""


class ImportSourceError(TelemetryError):
    """A race folder cannot be imported at all: missing, a required file or column missing, or
    event metadata that names no season or race. Nothing is written."""


class RowError(TelemetryError):
    """One row of a file is unusable; the importer reports it with its file and line and goes on."""


class UnknownRace(TelemetryError):
    """No imported event has that key."""
