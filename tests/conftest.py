"""Test-wide settings, applied before any test imports Prefect or GX (both read their
settings once): Prefect in a throw-away home, quiet and offline."""

import os
import tempfile

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="dibao-prefect-"))
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ["PREFECT_SERVER_LOGGING_LEVEL"] = "WARNING"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "90"

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_db(tmp_path_factory) -> Path:
    """A Prefect database created and migrated once per session (7.7 s here), in a home no
    server uses: each copy is freshly migrated, whatever ran before. A server started on a
    fresh PREFECT_HOME migrates one itself: 9.3 s to answer instead of 3.9 s. Tests of the server and the task
    runners start from a copy; the end-to-end run through Prefect keeps a fresh home, as an
    operator's first month has."""
    from flows.prefect_env import create_database

    return create_database(tmp_path_factory.mktemp("prefect-template"))


@pytest.fixture
def prefect_home(prefect_db: Path):
    """Make a PREFECT_HOME of this test's own, holding a copy of the migrated database."""
    def make(home: Path) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy2(prefect_db, home / "prefect.db")
        return home
    return make


@pytest.fixture
def session_prefect_home(prefect_db: Path) -> Path:
    """The session's PREFECT_HOME (Prefect in this process read it once), with a migrated database."""
    home = Path(os.environ["PREFECT_HOME"])
    if not (home / "prefect.db").exists():
        shutil.copy2(prefect_db, home / "prefect.db")
    return home


@pytest.fixture
def duckdb_cli() -> str:
    """The DuckDB command-line program analysts open the file with (duckdb-cli, a test dependency)."""
    import sys

    beside = Path(sys.executable).with_name("duckdb")
    found = str(beside) if beside.exists() else shutil.which("duckdb")
    if found is None:
        pytest.skip("DuckDB CLI binary not installed (pip install duckdb-cli)")
    return found


@pytest.fixture(autouse=True)
def _process_state_restored():
    """What a test changes in the process for its successors is put back: PREFECT_API_URL (a
    server a test found or started would be inherited, dead, by every later `dibao run`),
    the SIGINT/SIGTERM handlers and the umask that `dibao run` sets when called in-process."""
    import signal

    url = os.environ.get("PREFECT_API_URL")
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    if url is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = url
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    os.umask(umask)
