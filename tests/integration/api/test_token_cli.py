"""`fusebox token` mints an admin JWT the gateway accepts."""
from __future__ import annotations

import os
import subprocess
import sys

from fusebox.auth import verify_admin
from tests.integration.api.support import SECRET


def test_fusebox_token_prints_a_jwt_signed_with_the_configured_secret():
    env = {**os.environ, "FUSEBOX_JWT_SECRET": SECRET}
    out = subprocess.run([sys.executable, "-m", "fusebox.cli", "token", "--sub", "dana", "--role", "admin"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    principal = verify_admin(SECRET, out)
    assert principal.sub == "dana" and principal.roles == ("admin",)
