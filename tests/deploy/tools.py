"""The operator tools the deploy checks run, built from pinned Go modules by deploy/tools.sh."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def tool(name: str) -> Path:
    """The path of a pinned tool, built on first use (a few minutes once, then cached in .run/tools)."""
    done = subprocess.run(["bash", str(DEPLOY / "tools.sh"), "path", name], capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, f"deploy/tools.sh could not provide {name}:\n{done.stderr[-3000:]}"
    return Path(done.stdout.strip().splitlines()[-1])
