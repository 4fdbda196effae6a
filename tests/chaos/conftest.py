"""The chaos scenarios' fixtures: the size profile and the figures printed at the end of the run."""
from __future__ import annotations

import pytest

from tests.chaos.support import Figures, Profile, current_profile

_figures = Figures(current_profile())


@pytest.fixture(scope="session")
def profile() -> Profile:
    return _figures.profile


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _figures


def pytest_terminal_summary(terminalreporter) -> None:
    if _figures.lines:
        terminalreporter.section(f"chaos figures ({_figures.profile.name} profile)")
        for line in _figures.lines:
            terminalreporter.write_line(line)
