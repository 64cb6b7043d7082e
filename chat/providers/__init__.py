"""LLM providers: one small contract (`base.Provider`), loaded by name from `registry`."""

from chat.providers.base import (
    ErrorKind,
    GenerationOptions,
    ImageInput,
    ModelInfo,
    PromptMessage,
    Provider,
    ProviderError,
    ProviderHealth,
    StreamEvent,
    Timeouts,
    Usage,
)
from chat.providers.registry import get_provider

__all__ = [
    "ErrorKind",
    "GenerationOptions",
    "ImageInput",
    "ModelInfo",
    "PromptMessage",
    "Provider",
    "ProviderError",
    "ProviderHealth",
    "StreamEvent",
    "Timeouts",
    "Usage",
    "get_provider",
]
