"""Errors of the operator's controls; each carries a message an operator can act on."""

from __future__ import annotations


class OperatorError(Exception):
    """Base class: `message` is for the person at the admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EncryptionKeyMissing(OperatorError):
    """CONCIERGE_ENCRYPTION_KEY is not set (or holds no valid key), so no secret can be stored."""


class SecretUnreadable(OperatorError):
    """A stored secret cannot be decrypted with any configured key (a key was dropped too soon)."""


class ModelServerError(OperatorError):
    """A model server (Ollama, llama.cpp, LM Studio) refused or failed; `message` is its words.

    `status` is the HTTP status it answered with (0 when it could not be reached).
    """

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
