"""Fixtures of the outbound tests: a scripted SMTP server, test certificates, and the real mail
servers with STARTTLS on the submission port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.certs import Certificates, make_certificates
from support.mailservers import MailServers, start_mail_servers
from support.smtpserver import ScriptedSmtpServer


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"), ("mail.example.test",))


@pytest.fixture
def server() -> Iterator[ScriptedSmtpServer]:
    with ScriptedSmtpServer() as running:
        yield running


@pytest.fixture(scope="session")
def tls_mail_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServers]:
    """Dovecot and Postfix whose submission port offers STARTTLS (AUTH only after it)."""
    servers = start_mail_servers(tmp_path_factory.mktemp("tls-mailservers"), submission_tls=True)
    try:
        yield servers
    finally:
        servers.stop()
