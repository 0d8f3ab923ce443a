"""One settings object for the whole server, read from `OPENSALES_*` environment variables.

With nothing set, OpenSales runs embedded: a SQLite file in the data directory and no Redis.
Setting `OPENSALES_DATABASE_URL` and `OPENSALES_REDIS_URL` switches to the real services.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENSALES_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where embedded state lives (SQLite file).")
    database_url: str | None = Field(
        None, description="postgresql://user@host/db or sqlite:///path; default: SQLite file."
    )
    redis_url: str | None = Field(None, description="redis://host:port/db; default: no Redis.")
    host: str = Field("127.0.0.1", description="Address `opensales serve` binds to.")
    port: int = Field(8000, description="Port `opensales serve` listens on.")
    log_level: str = Field("info", description="Python logging level.")
    readiness_timeout_s: float = Field(2.0, description="Per-dependency timeout for /readyz.")

    llm_backend: Literal["local", "remote", "off"] = Field(
        "local",
        description="local: llama.cpp in this process; remote: an OpenAI-compatible "
        "URL; off: the deterministic paths alone.",
    )
    llm_model: str = Field(
        "qwen2.5-coder-1.5b",
        description="A bundled model name (see `opensales models`) or a path to a GGUF file.",
    )
    llm_model_sha256: str | None = Field(
        None, description="Expected sha256 of a GGUF given by path; checked at load."
    )
    llm_context: int = Field(4096, description="Context window in tokens.")
    llm_threads: int | None = Field(None, description="CPU threads; default: all cores.")
    llm_batch: int = Field(512, description="Prompt tokens evaluated per batch.")
    llm_gpu_layers: int = Field(0, description="Layers offloaded to the GPU; -1 = all (CUDA).")
    llm_chat_format: str | None = Field(None, description="Chat template; default: the GGUF's.")
    llm_timeout_s: float = Field(30.0, description="Deadline of one LLM request, queue included.")
    llm_remote_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible server, e.g. http://llm:8080/v1."
    )
    llm_remote_model: str = Field("default", description="Model name sent to the remote server.")
    llm_remote_api_key: str | None = Field(None, description="Bearer token for the remote server.")
    llm_remote_schema_style: Literal["json_object", "json_schema"] = Field(
        "json_object",
        description="How to ask for schema output: json_object (llama.cpp) or json_schema (vLLM).",
    )
    llm_breaker_failures: int = Field(3, description="Consecutive failures that open the breaker.")
    llm_breaker_slow_s: float = Field(10.0, description="An answer slower than this opens it.")
    llm_breaker_reset_s: float = Field(30.0, description="Seconds open before one probe call.")
    whatsapp_verify_token: str | None = Field(
        None, description="Token Meta echoes when it verifies the webhook (GET hub.challenge)."
    )
    whatsapp_app_secret: str | None = Field(
        None, description="App secret: every POST must carry its X-Hub-Signature-256."
    )
    whatsapp_token: str | None = Field(None, description="Graph API token for sending.")
    whatsapp_phone_number_id: str | None = Field(
        None,
        description="The business number's id; messages to it belong to the only company "
        "unless a company's settings name its own whatsapp_phone_number_id.",
    )
    whatsapp_template: str = Field(
        "order_update",
        description="Approved template (one body parameter) for replies sent "
        "more than 24 h after the customer's last message.",
    )
    whatsapp_template_language: str = Field("en", description="Its language code.")
    burst_window_s: float = Field(
        1.0, description="Messages from one sender this close together are answered together."
    )
    console: bool = Field(True, description="Serve the web console at /console (no login).")
    console_company: str | None = Field(
        None, description="Slug of the company the console shows; default demo-pune."
    )
    queue_name: str = Field("opensales:queue", description="arq queue (Redis key) for jobs.")
    redis_prefix: str = Field(
        "opensales",
        description="Prefix of the other Redis keys (conversation and run locks, "
        "rate limits, job ids): deployments sharing one Redis each need their own.",
    )
    max_message_chars: int = Field(4096, description="Longer inbound texts are cut, with a note.")

    public_url: str | None = Field(
        None,
        description="The public https base URL providers call (behind a proxy): Twilio "
        "signs the URL it called, so signatures are checked against this; default: the URL "
        "the request arrived on.",
    )
    twilio_account_sid: str | None = Field(None, description="Twilio account SID (sending SMS).")
    twilio_auth_token: str | None = Field(
        None,
        description="Twilio auth token: every SMS/voice webhook must carry its X-Twilio-Signature.",
    )
    twilio_phone_number: str | None = Field(
        None,
        description="Our Twilio number (E.164); SMS and calls to it belong to the only "
        "company unless a company's settings name their own sms_phone_number_id.",
    )
    sms_max_segments: int = Field(
        4, description="Longest SMS reply in segments (160 GSM-7 / 70 UCS-2 characters each)."
    )
    voice_fallback_number: str | None = Field(
        None,
        description="Where a caller is put through when they ask for a person and their "
        "store has no rep with a phone (E.164).",
    )
    voice_mode: Literal["gather", "stream"] = Field(
        "gather",
        description="Phone calls: gather (TwiML speech/DTMF menus) or stream "
        "(Media Streams websocket: our STT, supervisor and TTS, with barge-in).",
    )

    stt_model: str = Field(
        "tiny.en",
        description="Speech-to-text: tiny.en (bundled), base (multilingual, bundled "
        "in two parts) or the folder of any CTranslate2 Whisper model.",
    )
    stt_threads: int | None = Field(None, description="CPU threads for STT; default: all cores.")
    tts_voice: str | None = Field(
        None,
        description="A Piper voice (.onnx with its .onnx.json beside it); default: the "
        "bundled joe (en_US).",
    )
    max_voice_note_s: float = Field(
        120.0, description="Longer voice notes are cut to this many seconds, with a note."
    )
    max_media_bytes: int = Field(
        16 << 20, description="Largest voice note or photo fetched from a provider."
    )

    embedding_model: str | None = Field(
        None, description="Folder of a sentence-transformers model; default: the bundled MiniLM."
    )

    auth_jwt_secret: str | None = Field(
        None, description="HS256 secret for agent-API tokens (development)."
    )
    auth_jwks_url: str | None = Field(
        None,
        description="JWKS URL for RS256 agent-API tokens, e.g. Keycloak's "
        "https://kc/realms/R/protocol/openid-connect/certs.",
    )
    auth_issuer: str | None = Field(None, description="Required `iss` of tokens, when set.")
    auth_audience: str | None = Field(None, description="Required `aud` of tokens, when set.")
    rate_limit_ai_per_minute: int = Field(
        20, description="Agent-API runs one user may start per minute."
    )
    inbound_per_minute: int = Field(
        30,
        description="Messages one sender may send per minute on WhatsApp, SMS, a call or the "
        "console; more are stored, not answered, and the sender is asked once to slow down. "
        "0 turns the limit off.",
    )
    cors_allow_origins: str = Field(
        "",
        description="Comma-separated browser origins that may call the agent API "
        "(e.g. https://chat.example.com); empty: no cross-origin calls.",
    )

    scheduler: bool = Field(
        True,
        description="Run the daily jobs (tasks, push, alerts, digest) on their schedule: in the "
        "server without Redis, in `opensales worker` with it.",
    )
    tasks_llm_budget_s: float = Field(
        300.0,
        description="Seconds of the nightly planning the LLM may spend writing tasks, highest "
        "scores first; the rest keep the rules' text.",
    )
    tasks_llm_timeout_s: float = Field(20.0, description="Limit of one task written by the LLM.")

    analytics_timeout_s: float = Field(5.0, description="Statement timeout of analytics SQL.")
    analytics_max_rows: int = Field(500, description="Rows an analytics query may return.")

    @property
    def cors_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allow_origins.split(",") if origin.strip()]

    @property
    def models_dir(self) -> Path:
        """Where bundled GGUF models are assembled."""
        return self.data_dir / "models"

    @property
    def forecasts_dir(self) -> Path:
        """Where each company's trained forecast models are kept, one file per version."""
        return self.data_dir / "forecasts"

    @property
    def checkpoints_path(self) -> Path:
        """The embedded conversation memory (LangGraph's SQLite checkpointer and store)."""
        return self.data_dir / "checkpoints.db"

    @property
    def chroma_dir(self) -> Path:
        """Where the retrieval memory (Chroma) keeps its collections."""
        return self.data_dir / "chroma"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy needs (psycopg 3 for PostgreSQL)."""
        if self.database_url is None:
            return f"sqlite:///{self.data_dir / 'opensales.db'}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
