"""Admin JWTs: minting (`fusebox token`) and verification (HS256, `sub`, `exp` and a `roles` claim).

pyjwt checks signature, expiry, issuer and audience; the claim types it lets through (a numeric
string or a boolean `exp`) and the lifetime limit are checked here.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import jwt

from fusebox.settings import Settings

ALGORITHM = "HS256"
ADMIN_ROLE = "admin"
DEFAULT_TTL_S = 12 * 60 * 60


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """What a token must satisfy: its signing secret, and optionally `iss`, `aud` and a longest lifetime."""
    secret: str
    issuer: str | None = None
    audience: str | None = None
    max_lifetime_s: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


class InvalidToken(Exception):
    """The token is missing, malformed, expired or wrongly signed (401)."""


class NotAdmin(Exception):
    """The token is valid but does not carry the admin role (403)."""

    def __init__(self, principal: Principal):
        super().__init__(f"{principal.sub!r} is not an admin")
        self.principal = principal


def mint_token(secret: str, sub: str, roles: Sequence[str] = (ADMIN_ROLE,), ttl_s: int = DEFAULT_TTL_S,
               now: float | None = None, *, issuer: str | None = None, audience: str | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": sub, "roles": list(roles), "iat": issued, "exp": issued + ttl_s}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def verify_token(policy: TokenPolicy | str, token: str | None) -> Principal:
    """The token's principal; raises InvalidToken for any defect of the token itself."""
    if isinstance(policy, str):
        policy = TokenPolicy(policy)
    if not token:
        raise InvalidToken("a bearer token is required")
    required = ["exp", "sub"] + (["iss"] if policy.issuer else []) + (["aud"] if policy.audience else [])
    try:
        claims = jwt.decode(token, policy.secret, algorithms=[ALGORITHM], issuer=policy.issuer,
                            audience=policy.audience,
                            options={"require": required, "verify_aud": policy.audience is not None})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except (jwt.InvalidIssuerError, jwt.InvalidAudienceError) as exc:
        raise InvalidToken(f"the token is not for this deployment: {exc}") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("the token is invalid") from exc
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _is_number(claims[name]):
            raise InvalidToken(f"the token's {name} claim must be a number (NumericDate)")
    if policy.max_lifetime_s is not None:
        start = claims["iat"] if "iat" in claims else time.time()
        if claims["exp"] - start > policy.max_lifetime_s:
            raise InvalidToken(f"the token's lifetime exceeds {policy.max_lifetime_s} s")
    sub, roles = claims.get("sub"), claims.get("roles", [])
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("the token's sub claim must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidToken("the token's roles claim must be a list of strings")
    return Principal(sub=sub, roles=tuple(roles))


def verify_admin(policy: TokenPolicy | str, token: str | None) -> Principal:
    principal = verify_token(policy, token)
    if not principal.is_admin:
        raise NotAdmin(principal)
    return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="fusebox token", description="print a JWT signed with FUSEBOX_JWT_SECRET")
    parser.add_argument("--sub", required=True, help="the admin id")
    parser.add_argument("--role", action="append", dest="roles", help="a role (repeatable); default admin")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_S, help="lifetime in seconds")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if settings.jwt_max_lifetime_s is not None and args.ttl > settings.jwt_max_lifetime_s:
        parser.error(f"--ttl {args.ttl} exceeds FUSEBOX_JWT_MAX_LIFETIME_S ({settings.jwt_max_lifetime_s})")
    print(mint_token(settings.required_jwt_secret(), args.sub, args.roles or [ADMIN_ROLE], args.ttl,
                     issuer=settings.jwt_issuer, audience=settings.jwt_audience))
    return 0
