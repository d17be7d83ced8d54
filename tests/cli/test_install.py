"""Item 14: `make demo` installs what the product needs, not the test tools or the benchmark
peers; byte code is compiled at install (item 13)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def test_the_demo_bootstrap_installs_the_product_alone(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60)
    # The working tree as it is (the clone has the last commit; tests run on the tree).
    for name in ("scripts/bootstrap", "pyproject.toml", "uv.lock", "Makefile"):
        shutil.copy2(ROOT / name, clone / name)
    env = {**os.environ, "PATH": f"{Path.home() / '.local/bin'}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["scripts/bootstrap"], cwd=clone, env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    python = clone / ".venv" / "bin" / "python"
    for module in ("pytest", "mypy", "talon", "flufl.bounce", "hypothesis"):
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
        assert probe.returncode != 0, f"{module} was installed for the demo"
    assert subprocess.run([python, "-c", "import postroom.app"], timeout=60).returncode == 0
    assert size_of(clone / ".venv") < 150 * 1024 * 1024
    compiled = list((clone / "src" / "postroom" / "inbound" / "__pycache__").glob("*.pyc"))
    assert compiled, "postroom's own modules were not compiled at install"
