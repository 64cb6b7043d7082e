"""Errors the knowledge app raises."""


class KnowledgeError(Exception):
    """Base class for knowledge-base errors."""


class ImportSourceError(KnowledgeError):
    """A path given to the importer cannot be read at all (missing, or an unknown format)."""


class MalformedRecord(KnowledgeError):
    """One row of an import is unusable; `origin` names the file and line. The rest imports."""

    def __init__(self, origin: str, message: str) -> None:
        super().__init__(f"{origin}: {message}")
        self.origin = origin
        self.message = message
