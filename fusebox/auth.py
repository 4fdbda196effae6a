"""Admin JWTs: minting (`fusebox token`) and verification (HS256, `sub`, `exp` and a `roles` claim)."""
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
               now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {"sub": sub, "roles": list(roles), "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str | None) -> Principal:
    """The token's principal; raises InvalidToken for any defect of the token itself."""
    if not token:
        raise InvalidToken("a bearer token is required")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("the token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("the token is invalid") from exc
    sub, roles = claims.get("sub"), claims.get("roles", [])
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("the token's sub claim must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidToken("the token's roles claim must be a list of strings")
    return Principal(sub=sub, roles=tuple(roles))


def verify_admin(secret: str, token: str | None) -> Principal:
    principal = verify_token(secret, token)
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
    print(mint_token(settings.required_jwt_secret(), args.sub, args.roles or [ADMIN_ROLE], args.ttl))
    return 0
