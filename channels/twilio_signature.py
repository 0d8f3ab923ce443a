"""Checking `X-Twilio-Signature` on every Twilio webhook (SMS, voice, the Media Streams upgrade).

Twilio signs the URL it called plus the POSTed form fields with our auth token. Behind a proxy
the URL the request arrives on is not that URL, so `OPENSALES_PUBLIC_URL` names the public base
and the signed URL is rebuilt from it.
"""

from urllib.parse import parse_qsl

from starlette.datastructures import URL
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from errors import ApiError
from settings import Settings

HEADER = "X-Twilio-Signature"


def signed_url(settings: Settings, url: URL) -> str:
    """The URL Twilio called: the public base (when set) with this request's path and query."""
    if not settings.public_url:
        return str(url)
    base = settings.public_url.rstrip("/")
    if url.scheme in ("ws", "wss"):  # Twilio signs a stream's wss:// URL
        base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return base + url.path + (f"?{url.query}" if url.query else "")


def check_twilio_signature(settings: Settings, url: URL, headers, params: dict[str, str]) -> None:
    """Raise an `ApiError` unless the request carries Twilio's valid signature."""
    if not settings.twilio_auth_token:
        raise ApiError(503, "TWILIO_NOT_CONFIGURED", "OPENSALES_TWILIO_AUTH_TOKEN is not set.")
    signature = headers.get(HEADER)
    if not signature:
        raise ApiError(401, "WEBHOOK_SIGNATURE_MISSING", f"{HEADER} header is missing.")
    validator = RequestValidator(settings.twilio_auth_token)
    if not validator.validate(signed_url(settings, url), params, signature):
        raise ApiError(403, "WEBHOOK_SIGNATURE_INVALID", f"{HEADER} does not match the request.")


async def signed_form(request: Request, max_body: int) -> dict[str, str]:
    """A Twilio webhook's form (urlencoded), read with a size cap and checked before use."""
    body = bytearray()
    async for chunk in request.stream():  # counted as it comes: a chunked body has no length
        body += chunk
        if len(body) > max_body:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "The webhook body is too large.")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    check_twilio_signature(request.app.state.runtime.settings, request.url, request.headers, form)
    return form
