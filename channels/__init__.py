"""Channel adapters (WhatsApp, SMS, voice, console): verify, dedupe, normalise, send."""
