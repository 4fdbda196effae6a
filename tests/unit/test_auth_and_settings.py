"""Admin JWT checks (claim types, issuer, audience, lifetime) and the settings that decide the JWT secret."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import jwt
import pytest

from fusebox.auth import InvalidToken, TokenPolicy, mint_token, verify_admin
from fusebox.settings import DEV_JWT_SECRET, Settings
from tests.harness import free_port

SECRET = "unit-secret-0123456789abcdef0123456789abcdef"


def signed(**claims) -> str:
    return jwt.encode({"sub": "alice", "roles": ["admin"], **claims}, SECRET, algorithm="HS256")


def later(seconds: int = 600) -> int:
    return int(time.time()) + seconds


@pytest.mark.parametrize("claims", [
    {"exp": str(later())},  # pyjwt itself takes a numeric string
    {"exp": f"{later()}.5"},
    {"exp": True},
    {"exp": later(), "iat": str(int(time.time()))},
    {"exp": later(), "nbf": str(int(time.time()))},
])
def test_time_claims_that_are_not_json_numbers_are_refused(claims):
    with pytest.raises(InvalidToken):
        verify_admin(TokenPolicy(SECRET), signed(**claims))


def test_a_plain_secret_still_verifies_a_well_formed_token():
    assert verify_admin(SECRET, signed(exp=later(), iat=int(time.time()))).sub == "alice"


def test_issuer_and_audience_are_checked_when_configured():
    policy = TokenPolicy(SECRET, issuer="fusebox-prod", audience="fusebox-api")
    good = signed(exp=later(), iss="fusebox-prod", aud="fusebox-api")
    assert verify_admin(policy, good).sub == "alice"
    for claims in ({"iss": "fusebox-staging", "aud": "fusebox-api"}, {"iss": "fusebox-prod", "aud": "other"},
                   {"aud": "fusebox-api"}, {"iss": "fusebox-prod"}):
        with pytest.raises(InvalidToken):
            verify_admin(policy, signed(exp=later(), **claims))
    # without configured values, the claims are not required
    assert verify_admin(TokenPolicy(SECRET), signed(exp=later())).sub == "alice"


def test_a_token_living_longer_than_the_maximum_is_refused():
    policy = TokenPolicy(SECRET, max_lifetime_s=3600)
    now = int(time.time())
    assert verify_admin(policy, signed(iat=now, exp=now + 3600)).sub == "alice"
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_admin(policy, signed(iat=now, exp=now + 3601))
    with pytest.raises(InvalidToken, match="lifetime"):  # without iat: measured from now
        verify_admin(policy, signed(exp=now + 7200))
    assert verify_admin(policy, signed(exp=now + 1800)).sub == "alice"


def test_minted_tokens_carry_the_configured_issuer_and_audience():
    policy = TokenPolicy(SECRET, issuer="fusebox-prod", audience="fusebox-api", max_lifetime_s=600)
    token = mint_token(SECRET, "bob", ttl_s=600, issuer="fusebox-prod", audience="fusebox-api")
    assert verify_admin(policy, token).sub == "bob"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSEBOX_")}
    return {**env, **extra}


def test_the_dev_secret_is_used_only_when_fusebox_env_is_dev(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FUSEBOX_"):
            monkeypatch.delenv(name)
    assert Settings.from_env().jwt_secret is None
    with pytest.raises(SystemExit, match="FUSEBOX_JWT_SECRET"):
        Settings.from_env().required_jwt_secret()
    monkeypatch.setenv("FUSEBOX_ENV", "dev")
    assert Settings.from_env().required_jwt_secret() == DEV_JWT_SECRET
    monkeypatch.setenv("FUSEBOX_JWT_SECRET", SECRET)
    assert Settings.from_env().required_jwt_secret() == SECRET


def test_fusebox_api_without_a_secret_stops_at_once_naming_the_variable():
    # (a free port: if it did start, it would take no port anyone uses)
    env = clean_env(FUSEBOX_API_HOST="127.0.0.1", FUSEBOX_API_PORT=str(free_port()))
    result = subprocess.run([sys.executable, "-m", "fusebox.cli", "api"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode != 0
    assert "FUSEBOX_JWT_SECRET" in result.stderr


def test_jwt_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FUSEBOX_JWT_SECRET", SECRET)
    monkeypatch.setenv("FUSEBOX_JWT_ISSUER", "fusebox-prod")
    monkeypatch.setenv("FUSEBOX_JWT_AUDIENCE", "fusebox-api")
    monkeypatch.setenv("FUSEBOX_JWT_MAX_LIFETIME_S", "900")
    from fusebox.api.settings import ApiSettings

    assert ApiSettings.from_env().token_policy == TokenPolicy(SECRET, "fusebox-prod", "fusebox-api", 900)
