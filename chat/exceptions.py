"""Errors the chat services raise; the consumer and views turn each into a protocol error."""


class ChatError(Exception):
    """A request the chat app refuses. `code` is the protocol error code."""

    code = "internal"
    default_message = "Something went wrong on our side. Please try again."

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        reply_to: str | None = None,
    ) -> None:
        message = message or self.default_message
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.reply_to = reply_to  # the client id of the message refused, when there is one


class InvalidInput(ChatError):
    """The frame or body is malformed, empty, or names something unknown."""

    code = "invalid"


class TooLarge(ChatError):
    """Text, image or frame over its size limit."""

    code = "too_large"


class UnsupportedImage(ChatError):
    """An image that is not a PNG, JPEG or WebP, or that does not decode."""

    code = "unsupported_image"


class NotFound(ChatError):
    """The session or message does not exist, or the requester cannot see it."""

    code = "not_found"


class Forbidden(ChatError):
    """The requester may not act on this session or message."""

    code = "forbidden"


class Busy(ChatError):
    """A reply is already being generated in this session."""

    code = "busy"
    default_message = "A reply is still being written in this conversation. Wait or press stop."


class RateLimited(ChatError):
    """Too many messages in the sliding window; `retry_after` says when one more fits."""

    code = "rate_limited"


class QuotaExceeded(ChatError):
    """Today's message or token quota is used up; `retry_after` runs to the local midnight."""

    code = "quota_exceeded"


class InvalidTransition(ChatError):
    """A message was asked to change status in a way its lifecycle does not allow."""

    code = "internal"
