"""Fetching a voice note or photo a message refers to, from the provider that holds it.

Providers send a media id (WhatsApp) or URL (Twilio MMS), not the bytes; they are fetched when
the message is answered, never more than `max_media_bytes`. A fetch that can never work (the
media expired, is too large, or is refused) raises `MediaUnavailable`, which the sender is told
about; anything else (a timeout, a 5xx) propagates, and the job is retried.
"""

import httpx

from messages import Media, MediaUnavailable


async def _download(client: httpx.AsyncClient, url: str, max_bytes: int, **request) -> Media:
    async with client.stream("GET", url, follow_redirects=True, **request) as response:
        if 400 <= response.status_code < 500:
            raise MediaUnavailable(f"the provider answered {response.status_code}")
        response.raise_for_status()
        declared = int(response.headers.get("content-length") or 0)
        if declared > max_bytes:
            raise MediaUnavailable(f"it is {declared >> 20} MB; the limit is {max_bytes >> 20} MB")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise MediaUnavailable(f"it is over the {max_bytes >> 20} MB limit")
        return Media(bytes(body), response.headers.get("content-type"))


class WhatsAppMedia:
    """Cloud API media: the id resolves to a short-lived URL, fetched with the same token."""

    GRAPH = "https://graph.facebook.com/v22.0"

    def __init__(self, token: str, client: httpx.AsyncClient | None = None) -> None:
        self.token = token
        self.client = client or httpx.AsyncClient(timeout=30)

    async def fetch(self, media_id: str, max_bytes: int) -> Media:
        auth = {"Authorization": f"Bearer {self.token}"}
        found = await self.client.get(f"{self.GRAPH}/{media_id}", headers=auth)
        if 400 <= found.status_code < 500:
            raise MediaUnavailable(f"WhatsApp answered {found.status_code} for media {media_id}")
        found.raise_for_status()
        info = found.json()
        if int(info.get("file_size") or 0) > max_bytes:
            raise MediaUnavailable(
                f"it is {int(info['file_size']) >> 20} MB; the limit is {max_bytes >> 20} MB"
            )
        media = await _download(self.client, info["url"], max_bytes, headers=auth)
        return Media(media.data, info.get("mime_type") or media.mime_type)


class TwilioMedia:
    """MMS media URLs, fetched with the account's credentials (they redirect to storage)."""

    def __init__(
        self, account_sid: str, auth_token: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.auth = (account_sid, auth_token)
        self.client = client or httpx.AsyncClient(timeout=30)

    async def fetch(self, media_id: str, max_bytes: int) -> Media:
        if not media_id.startswith("https://api.twilio.com/"):
            raise MediaUnavailable("not a Twilio media URL")  # never fetch a URL we were handed
        return await _download(self.client, media_id, max_bytes, auth=self.auth)


class HeldMedia:
    """Media already in hand, by id: the web console's uploads and the tests."""

    def __init__(self) -> None:
        self.items: dict[str, Media] = {}

    async def fetch(self, media_id: str, max_bytes: int) -> Media:
        media = self.items.get(media_id)
        if media is None:
            raise MediaUnavailable(f"no media {media_id}")
        if len(media.data) > max_bytes:
            raise MediaUnavailable(f"it is over the {max_bytes >> 20} MB limit")
        return media
