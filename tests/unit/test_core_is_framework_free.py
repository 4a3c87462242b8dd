"""The protocol core (pagero_oauth/) imports no web framework, so it can be copied alone."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pagero_oauth

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys
import pagero_oauth
names = [m.name for m in pkgutil.walk_packages(pagero_oauth.__path__, "pagero_oauth.")]
for name in names:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "werkzeug", "app"))
print(len(names), loaded)
"""


def test_every_core_module_imports_without_flask_or_werkzeug():
    out = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    count, loaded = out.stdout.split(" ", 1)
    expected = len(list(pkgutil.walk_packages(pagero_oauth.__path__, "pagero_oauth.")))
    assert int(count) == expected > 15
    assert loaded.strip() == "[]", loaded


def test_the_core_reads_no_project_configuration():
    """Settings are a Protocol (pagero_oauth/settings.py): no ``config`` import anywhere."""
    for path in Path(pagero_oauth.__file__).parent.rglob("*.py"):
        text = path.read_text()
        assert "from config" not in text and "import config" not in text, path
