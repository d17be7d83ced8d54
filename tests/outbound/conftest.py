"""Fixtures of the outbound tests: a scripted SMTP server and test certificates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.certs import Certificates, make_certificates
from support.smtpserver import ScriptedSmtpServer


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"), ("mail.example.test",))


@pytest.fixture
def server() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as running:
        yield running
