"""Item 13: `postroom inbound` (a new process per message) imports only what one message needs:
no command-line framework, no SQLAlchemy, no template engine, no listener. The cost itself is
measured against a bare interpreter by bench/pipe.sh, not here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.cli import Deployment
from support.messages import reply

LIBRARIES = ("click", "sqlalchemy", "alembic", "jinja2", "aiosmtpd", "psycopg", "imapclient")
# An HTTP client only when a module served by a URL is dispatched to (tests/webhooks/).
HEAVY = (*LIBRARIES, "http.client", "urllib.request", "postroom.webhooks.transport")
PROBE = (
    "import atexit, sys\n"
    "heavy = {heavy!r}\n"
    "atexit.register(lambda: print('LOADED', sorted({{m for m in sys.modules"
    " if m in heavy or m.split('.')[0] in heavy}}), file=sys.stderr))\n"
    "from postroom.cli import run\n"
    "run()\n"
)


def test_the_pipe_handles_a_reply_without_the_heavy_libraries(
    tmp_path: Path, sqlite_url: str
) -> None:
    deployment = Deployment(tmp_path, sqlite_url)
    assert deployment.run("db", "upgrade").returncode == 0
    address = deployment.new_address()
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), "inbound", "--recipient", address],
        input=reply(address),
        capture_output=True,
        env=deployment.env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"dispatched")
    assert b"LOADED []" in result.stderr, result.stderr.decode()
    assert deployment.posts_text() == ["Sounds good, see you there."]
