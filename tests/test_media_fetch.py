"""Fetching voice notes and photos from the providers: what Meta and Twilio answer is played
by an httpx transport; the size cap, the lasting failures and the passing ones are ours."""

import asyncio

import httpx
import pytest

from channels.media import TwilioMedia, WhatsAppMedia
from messages import MediaUnavailable

NOTE = b"OggS" + b"\x01" * 1000


def meta(request: httpx.Request) -> httpx.Response:
    assert request.headers["Authorization"] == "Bearer wa-token"
    if request.url.host == "graph.facebook.com":
        media_id = request.url.path.rsplit("/", 1)[-1]
        if media_id == "gone":
            return httpx.Response(404, json={"error": {"message": "expired"}})
        if media_id == "down":
            return httpx.Response(503)
        size = 99 << 20 if media_id == "huge" else len(NOTE)
        return httpx.Response(
            200,
            json={
                "url": f"https://lookaside.fbsbx.com/{media_id}",
                "mime_type": "audio/ogg",
                "file_size": size,
            },
        )
    if request.url.path == "/lies":  # said small, is not
        return httpx.Response(200, content=b"x" * (2 << 20))
    return httpx.Response(200, content=NOTE, headers={"content-type": "audio/ogg"})


def fetch(fetcher, media_id, limit=1 << 20):
    return asyncio.run(fetcher.fetch(media_id, limit))


def test_whatsapp_media_is_looked_up_then_downloaded_within_the_limit():
    client = httpx.AsyncClient(transport=httpx.MockTransport(meta))
    whatsapp = WhatsAppMedia("wa-token", client)
    media = fetch(whatsapp, "note-1")
    assert media.data == NOTE and media.mime_type == "audio/ogg"
    with pytest.raises(MediaUnavailable, match="404"):
        fetch(whatsapp, "gone")
    with pytest.raises(MediaUnavailable, match="99 MB"):
        fetch(whatsapp, "huge")
    with pytest.raises(MediaUnavailable, match="limit is 1 MB"):  # its Content-Length
        fetch(whatsapp, "lies")
    with pytest.raises(httpx.HTTPStatusError):  # Meta is down: the job is tried again
        fetch(whatsapp, "down")


def test_twilio_media_is_fetched_with_the_account_and_only_from_twilio():
    seen = []

    def twilio(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.twilio.com":
            return httpx.Response(307, headers={"location": "https://s3.example.com/x.jpg"})
        return httpx.Response(200, content=b"\xff\xd8jpeg", headers={"content-type": "image/jpeg"})

    fetcher = TwilioMedia("AC1", "secret", httpx.AsyncClient(transport=httpx.MockTransport(twilio)))
    media = fetch(fetcher, "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    assert media.data == b"\xff\xd8jpeg" and media.mime_type == "image/jpeg"
    assert seen[0].headers["Authorization"].startswith("Basic ")
    with pytest.raises(MediaUnavailable, match="not a Twilio media URL"):
        fetch(fetcher, "https://attacker.example.com/ssrf")
    assert len(seen) == 2  # the refused URL was never requested
