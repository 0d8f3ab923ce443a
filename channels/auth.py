"""Bearer-token authentication for the agent API: who is calling, for which company, as what.

Tokens are JWTs: RS256 verified against a JWKS URL (Keycloak in production) and/or HS256 with a
shared secret (development). The algorithm is chosen by the token header but only among those
with a configured key, so an HS256 token can never be checked against an RSA public key.
With neither configured the API is off rather than open.
"""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWKSetError,
    PyJWTError,
)

from db.models import Role
from errors import ApiError
from settings import Settings

LEEWAY_S = 30
JWKS_LIFESPAN_S = 300
JWKS_TIMEOUT_S = 5


@dataclass(frozen=True)
class Principal:
    subject: str
    company_id: uuid.UUID
    role: Role
    store_id: uuid.UUID | None = None
    rep_id: uuid.UUID | None = None
    name: str = ""


def _invalid(message: str) -> ApiError:
    return ApiError(401, "AUTH_INVALID", message)


def _claims_invalid(message: str) -> ApiError:
    return ApiError(403, "AUTH_CLAIMS_INVALID", message)


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.auth_jwt_secret
        self._issuer = settings.auth_issuer
        self._audience = settings.auth_audience
        self._jwks = (
            jwt.PyJWKClient(
                settings.auth_jwks_url,
                cache_keys=True,
                lifespan=JWKS_LIFESPAN_S,
                timeout=JWKS_TIMEOUT_S,
            )
            if settings.auth_jwks_url
            else None
        )

    async def authenticate_async(self, authorization: str | None) -> Principal:
        """`authenticate` off the event loop: fetching the JWKS is blocking HTTP."""
        return await asyncio.to_thread(self.authenticate, authorization)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by an `Authorization` header value, or an ApiError saying why not."""
        if self._secret is None and self._jwks is None:
            raise ApiError(
                503,
                "AUTH_NOT_CONFIGURED",
                "The agent API is off: set "
                "OPENSALES_AUTH_JWKS_URL or OPENSALES_AUTH_JWT_SECRET to enable it.",
            )
        if not authorization:
            raise ApiError(
                401,
                "AUTH_REQUIRED",
                "Missing Authorization header: send 'Authorization: Bearer <token>'.",
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise _invalid("The Authorization header must be 'Bearer <token>'.")
        return _principal(self._decode(token))

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as e:
            raise _invalid(f"The bearer token is not a well-formed JWT: {e}.") from None
        alg = header.get("alg")
        key: Any
        if alg == "RS256" and self._jwks is not None:
            key = _signing_key(self._jwks, header.get("kid"))
        elif alg == "HS256" and self._secret is not None:
            key = self._secret
        else:
            accepted = [a for a, on in (("RS256", self._jwks), ("HS256", self._secret)) if on]
            raise _invalid(
                f"Token algorithm {alg!r} is not accepted; accepted: {', '.join(accepted)}."
            )
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except ExpiredSignatureError:
            raise ApiError(401, "AUTH_EXPIRED", "The token has expired; get a new one.") from None
        except InvalidSignatureError:
            raise _invalid("The token's signature does not verify.") from None
        except InvalidAudienceError:
            raise _invalid(f"The token's audience (aud) is not {self._audience!r}.") from None
        except InvalidIssuerError:
            raise _invalid(f"The token's issuer (iss) is not {self._issuer!r}.") from None
        except MissingRequiredClaimError as e:
            raise _invalid(f"The token has no {e.claim!r} claim.") from None
        except InvalidTokenError as e:
            raise _invalid(f"The token is invalid: {e}.") from None


def _signing_key(jwks: jwt.PyJWKClient, kid: Any) -> jwt.PyJWK:
    """The JWKS key named by `kid`: 401 when the set lacks it, 503 when there is no set to ask."""
    if not isinstance(kid, str):
        raise _invalid("The RS256 token's header has no key id (kid).")
    unavailable = ApiError(
        503,
        "AUTH_UNAVAILABLE",
        "Cannot fetch the signing keys from OPENSALES_AUTH_JWKS_URL; try again shortly.",
    )
    try:
        return jwks.get_signing_key(kid)
    except (PyJWKClientConnectionError, PyJWKSetError, ValueError):
        raise unavailable from None
    except PyJWKClientError:
        pass  # kid is not in the set, or the endpoint served no usable signing keys: which?
    try:
        jwks.get_signing_keys()
    except (PyJWTError, ValueError):
        raise unavailable from None
    raise _invalid(
        f"No key with id {kid!r} in the JWKS: the token was not signed by the "
        "configured identity provider."
    )


def _principal(claims: dict[str, Any]) -> Principal:
    return Principal(
        subject=claims["sub"],
        company_id=_uuid_claim(claims, "company_id", required=True),
        role=_role(claims),
        store_id=_uuid_claim(claims, "store_id"),
        rep_id=_uuid_claim(claims, "rep_id"),
        name=next(
            (
                v
                for v in (claims.get("name"), claims.get("preferred_username"))
                if isinstance(v, str) and v
            ),
            "",
        ),
    )


def _uuid_claim(claims: dict[str, Any], name: str, *, required: bool = False) -> uuid.UUID | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _claims_invalid(f"The token has no {name!r} claim.")
        return None
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise _claims_invalid(f"The token's {name!r} claim is not a UUID.") from None


def _role(claims: dict[str, Any]) -> Role:
    """The highest OpenSales role among `role`, `roles` and Keycloak's `realm_access.roles`;
    other roles (offline_access, uma_authorization, ...) are ignored."""
    realm = claims.get("realm_access")
    names: list[Any] = [claims.get("role")]
    for roles in (claims.get("roles"), realm.get("roles") if isinstance(realm, dict) else None):
        if isinstance(roles, list):
            names += roles
    granted = [role for role in Role if role.value in names]
    if not granted:
        raise _claims_invalid(
            "The token grants no OpenSales role (admin, manager, rep or "
            "retailer) in 'role', 'roles' or 'realm_access.roles'."
        )
    return granted[0]


async def request_principal(request) -> Principal:
    """The caller of an API request (a Starlette request on our app), whose token's company
    must exist: 401/403 ApiError otherwise."""
    runtime = request.app.state.runtime
    principal = await runtime.authenticator.authenticate_async(request.headers.get("authorization"))
    if await asyncio.to_thread(runtime.intake.companies.get, principal.company_id) is None:
        raise ApiError(
            403,
            "AUTH_COMPANY_UNKNOWN",
            f"The token's company {principal.company_id} does not exist.",
        )
    return principal
