"""Bearer tokens against a real JWKS endpoint (a local HTTP server) and a real RSA key."""

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from channels.auth import Authenticator, Principal
from db.models import Role
from errors import ApiError
from settings import Settings

ISSUER = "https://kc.example/realms/opensales"
AUDIENCE = "opensales-api"
SECRET = "dev-secret-of-at-least-thirty-two-bytes!"
COMPANY = uuid.uuid4()
KID = "kc-key-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def jwks_server(rsa_key) -> Iterator[tuple[str, list[str]]]:
    """A JWKS endpoint as Keycloak serves it (a signing key and an encryption key); yields its
    URL and the log of requests it answered."""
    signing = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    signing.update(kid=KID, alg="RS256", use="sig")
    encryption = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(new_key().public_key()))
    encryption.update(kid="kc-enc", alg="RSA-OAEP", use="enc")
    body = json.dumps({"keys": [signing, encryption]}).encode()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/protocol/openid-connect/certs", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.fixture
def keycloak(jwks_server) -> Authenticator:
    return Authenticator(
        settings(auth_jwks_url=jwks_server[0], auth_issuer=ISSUER, auth_audience=AUDIENCE)
    )


def claims(**changes) -> dict:
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "8c1e-user",
        "iat": now,
        "exp": now + 300,
        "azp": "opensales-web",
        "typ": "Bearer",
        "preferred_username": "asha",
        "realm_access": {"roles": ["offline_access", "manager", "uma_authorization"]},
        "company_id": str(COMPANY),
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def rs256(key: rsa.RSAPrivateKey, kid: str = KID, **changes) -> str:
    return jwt.encode(claims(**changes), key, algorithm="RS256", headers={"kid": kid})


def hs256_raw(payload: dict, secret: bytes) -> str:
    """An HS256 token signed by hand: PyJWT refuses a PEM public key as an HMAC secret, an
    attacker's tooling does not."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{b64(header)}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def rejected(authenticator: Authenticator, header: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        authenticator.authenticate(header)
    token = (header or "").partition(" ")[2]
    assert not token or token not in caught.value.message
    return caught.value


def test_a_keycloak_token_names_the_user_company_and_highest_role(keycloak, rsa_key, jwks_server):
    fetches = len(jwks_server[1])
    principal = keycloak.authenticate(f"Bearer {rs256(rsa_key)}")
    assert principal == Principal(
        subject="8c1e-user", company_id=COMPANY, role=Role.manager, name="asha"
    )
    # The JWKS is fetched once and the key cached, and the async form gives the same answer.
    other = rs256(rsa_key, sub="other", realm_access={"roles": ["rep", "admin"]})
    assert asyncio.run(keycloak.authenticate_async(f"bearer {other}")).role is Role.admin
    assert len(jwks_server[1]) == fetches + 1


def test_a_token_from_another_key_or_kid_is_invalid(keycloak, rsa_key):
    assert rejected(keycloak, f"Bearer {rs256(new_key())}").code == "AUTH_INVALID"
    error = rejected(keycloak, f"Bearer {rs256(rsa_key, kid='someone-else')}")
    assert (error.status_code, error.code) == (401, "AUTH_INVALID")
    assert "someone-else" in error.message


def test_expiry_is_required_and_checked_with_30_s_leeway(keycloak, rsa_key):
    now = int(time.time())
    error = rejected(keycloak, f"Bearer {rs256(rsa_key, exp=now - 120)}")
    assert (error.status_code, error.code) == (401, "AUTH_EXPIRED")
    assert keycloak.authenticate(f"Bearer {rs256(rsa_key, exp=now - 10)}").role is Role.manager
    no_exp = {k: v for k, v in claims().items() if k != "exp"}
    token = jwt.encode(no_exp, rsa_key, algorithm="RS256", headers={"kid": KID})
    error = rejected(keycloak, f"Bearer {token}")
    assert error.code == "AUTH_INVALID" and "'exp'" in error.message


@pytest.mark.parametrize("also_secret", [False, True])
def test_hs256_signed_with_the_rsa_public_key_is_rejected(jwks_server, rsa_key, also_secret):
    authenticator = Authenticator(
        settings(auth_jwks_url=jwks_server[0], auth_jwt_secret=SECRET if also_secret else None)
    )
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    error = rejected(authenticator, f"Bearer {hs256_raw(claims(), pem)}")
    assert (error.status_code, error.code) == (401, "AUTH_INVALID")


def test_alg_none_is_rejected_whatever_is_configured(jwks_server):
    authenticator = Authenticator(settings(auth_jwks_url=jwks_server[0], auth_jwt_secret=SECRET))
    token = jwt.encode(claims(), None, algorithm="none")
    error = rejected(authenticator, f"Bearer {token}")
    assert error.code == "AUTH_INVALID" and "'none'" in error.message


def test_rs256_is_rejected_when_only_a_secret_is_configured(rsa_key):
    authenticator = Authenticator(settings(auth_jwt_secret=SECRET))
    assert rejected(authenticator, f"Bearer {rs256(rsa_key)}").code == "AUTH_INVALID"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"company_id": None}, "no 'company_id'"),
        ({"company_id": "acme"}, "'company_id' claim is not a UUID"),
        ({"store_id": "store-7"}, "'store_id' claim is not a UUID"),
        ({"realm_access": {"roles": ["offline_access", "uma_authorization"]}}, "no OpenSales role"),
        ({"realm_access": "manager"}, "no OpenSales role"),
    ],
)
def test_claims_the_api_needs_are_checked(keycloak, rsa_key, changes, words):
    error = rejected(keycloak, f"Bearer {rs256(rsa_key, **changes)}")
    assert (error.status_code, error.code) == (403, "AUTH_CLAIMS_INVALID")
    assert words in error.message


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"iss": "https://kc.example/realms/other"}, "issuer"),
        ({"iss": None}, "'iss'"),
    ],
)
def test_wrong_audience_or_issuer_is_invalid(keycloak, rsa_key, changes, words):
    error = rejected(keycloak, f"Bearer {rs256(rsa_key, **changes)}")
    assert (error.status_code, error.code) == (401, "AUTH_INVALID")
    assert words in error.message


def test_audience_is_not_checked_when_not_configured(jwks_server, rsa_key):
    authenticator = Authenticator(settings(auth_jwks_url=jwks_server[0]))
    assert authenticator.authenticate(f"Bearer {rs256(rsa_key, aud='account')}").subject


def test_an_unreachable_jwks_is_unavailable_not_invalid(rsa_key):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    authenticator = Authenticator(settings(auth_jwks_url=f"http://127.0.0.1:{port}/certs"))
    error = rejected(authenticator, f"Bearer {rs256(rsa_key)}")
    assert (error.status_code, error.code) == (503, "AUTH_UNAVAILABLE")


def test_a_development_hs256_token_names_store_and_rep():
    authenticator = Authenticator(settings(auth_jwt_secret=SECRET))
    store, rep = uuid.uuid4(), uuid.uuid4()
    token = jwt.encode(
        claims(
            iss=None,
            aud=None,
            realm_access=None,
            preferred_username=None,
            roles=["rep"],
            store_id=str(store),
            rep_id=str(rep),
            name="Ravi",
        ),
        SECRET,
        algorithm="HS256",
    )
    assert authenticator.authenticate(f"Bearer {token}") == Principal(
        subject="8c1e-user",
        company_id=COMPANY,
        role=Role.rep,
        store_id=store,
        rep_id=rep,
        name="Ravi",
    )
    wrong = jwt.encode(claims(), "another-secret-of-thirty-two-bytes!!", algorithm="HS256")
    assert "signature" in rejected(authenticator, f"Bearer {wrong}").message


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "AUTH_REQUIRED"),
        ("", "AUTH_REQUIRED"),
        ("Basic dXNlcjpwYXNz", "AUTH_INVALID"),
        ("Bearer", "AUTH_INVALID"),
        ("Bearer not.a.jwt", "AUTH_INVALID"),
        ("Bearer two tokens", "AUTH_INVALID"),
    ],
)
def test_missing_or_malformed_headers(header, code):
    error = rejected(Authenticator(settings(auth_jwt_secret=SECRET)), header)
    assert (error.status_code, error.code) == (401, code)


def test_without_a_secret_or_jwks_the_api_is_off(rsa_key):
    error = rejected(Authenticator(settings()), f"Bearer {rs256(rsa_key)}")
    assert (error.status_code, error.code) == (503, "AUTH_NOT_CONFIGURED")
