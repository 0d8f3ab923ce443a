"""Speech to text (faster-whisper), text to speech (piper) and audio codecs."""
