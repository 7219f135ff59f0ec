"""What can go wrong when a speech-to-text provider is asked for a transcript::

    SluiceError
     └── ProviderError            a provider (or the whole chain) could not transcribe
          ├── RateLimited         429: try this provider again after ``retry_after``
          ├── Unavailable         5xx, a network error or a timeout: try another one
          ├── TooLarge            413: the upload is over the cap; send smaller chunks
          ├── Unauthorized        401/402/403, 404: the key, quota, model or URL is wrong
          ├── Refused             400/422: the provider will not take this request
          └── AllProvidersFailed  no provider can serve now; retry after ``retry_after``

``provider`` names the provider that answered ("" for the chain). Messages
quote what the provider said, through :func:`sluice.redact`, so they never
show a key even when a provider echoes one.
"""

from __future__ import annotations

from collections.abc import Mapping

from sluice._exceptions import SluiceError
from sluice._redact import redact

__all__ = [
    "AllProvidersFailed",
    "ProviderError",
    "RateLimited",
    "Refused",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
]


class ProviderError(SluiceError):
    """A speech-to-text provider could not transcribe; ``provider`` says which one."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(redact(message))
        self.provider = provider

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class RateLimited(ProviderError):
    """The provider answered 429 (or its own rate window is full).

    ``retry_after``: seconds until it takes requests again, None when it did not say.
    """

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class Unavailable(ProviderError):
    """A server error (5xx), a network error or a timeout: another provider may serve."""


class TooLarge(ProviderError):
    """The upload is over the provider's cap (413): cut the audio into smaller chunks.

    ``max_bytes``: the largest file the provider takes, when known.
    """

    def __init__(self, message: str, *, provider: str = "", max_bytes: int | None = None) -> None:
        super().__init__(message, provider=provider)
        self.max_bytes = max_bytes


class Unauthorized(ProviderError):
    """The provider refuses every request with these settings: the key is wrong, its
    quota is spent, or the model or the base URL does not exist. Fix the settings."""


class Refused(ProviderError):
    """The provider refused this request (400/422): the audio, its file type or a parameter."""


class AllProvidersFailed(ProviderError):
    """No provider could transcribe now: each is rate limited, failing, or refused.

    ``retry_after``: seconds until the first of them is usable again (None when
    unknown); ``errors``: each provider's last error, by name, without secrets.
    Keep the job and try again then.
    """

    def __init__(self, message: str, *, retry_after: float | None, errors: Mapping[str, str]):
        super().__init__(message)
        self.retry_after = retry_after
        self.errors = {name: redact(text) for name, text in errors.items()}
