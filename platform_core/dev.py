"""Runs Clarion on one machine: `python -m platform_core.dev demo|test|services|stop|clean-data`.

`demo` starts the embedded servers (when DATABASE_URL / REDIS_URL are unset), migrates,
sets up the demo tenant, then runs web, one Celery worker per queue and beat until Ctrl-C.
`test` starts the same servers and runs the test suite against them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from platform_core import embedded

BASE_DIR = embedded.BASE_DIR
PYTHON = sys.executable
BIN = Path(PYTHON).parent
# Worker processes (concurrency) per queue in the demo; `system` runs the sweepers.
DEMO_WORKERS = {"critical": 1, "high": 1, "normal": 2, "low": 1, "system": 1}
TEST_REDIS_DB = 1


def _say(message: str) -> None:
    print(f"clarion: {message}", flush=True)


def _manage(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


@dataclass
class Supervisor:
    """Starts child processes with their output in .data/logs and stops them all on exit."""

    log_dir: Path
    env: dict[str, str]
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.children[name] = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def exited(self) -> list[str]:
        return [name for name, proc in self.children.items() if proc.poll() is not None]

    def stop(self, timeout: float = 15) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.children.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_for_http(port: int, timeout: float = 60) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def demo() -> int:
    port = int(os.environ.get("PORT", "8000"))
    started = embedded.start()
    env = dict(os.environ)
    metrics_dir = embedded.data_dir() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    supervisor = Supervisor(log_dir=embedded.data_dir() / "logs", env=env)
    mailbox = embedded.data_dir() / "mailbox"
    smtp_port = env.setdefault("DEMO_SMTP_PORT", "1025")
    env["DEMO_MAILBOX"] = str(mailbox)

    def shutdown(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        _say("migrating the shared and tenant schemas ...")
        _manage("migrate_schemas", "--noinput", env={**env, "LOG_LEVEL": "WARNING"}, capture=True)
        banner = _manage("demo_setup", env=env, capture=True)
        # A local mail sink: the demo tenant's SMTP integration delivers into a Maildir.
        supervisor.start(
            "mail-sink",
            [
                PYTHON,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{smtp_port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(mailbox),
            ],
        )
        _say(f"starting web on http://localhost:{port}, workers and beat ...")
        supervisor.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "platform_core.wsgi",
                "-c",
                str(BASE_DIR / "docker" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
            ],
        )
        for queue, concurrency in DEMO_WORKERS.items():
            supervisor.start(
                f"worker-{queue}",
                [
                    str(BIN / "celery"),
                    "-A",
                    "platform_core",
                    "worker",
                    "-Q",
                    queue,
                    "-n",
                    f"{queue}@%h",
                    "-c",
                    str(concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "INFO",
                ],
            )
        supervisor.start(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "platform_core",
                "beat",
                "-l",
                "INFO",
                "--pidfile",
                "",
                "--schedule",
                str(embedded.data_dir() / "celerybeat-schedule"),
            ],
        )
        if not _wait_for_http(port):
            _say(f"web did not come up; see {supervisor.log_dir / 'web.log'}")
            return 1
        print(banner.replace("{PORT}", str(port)), flush=True)
        _say(f"logs in {supervisor.log_dir}; Ctrl-C stops everything")
        while True:
            dead = supervisor.exited()
            if dead:
                _say(f"{', '.join(dead)} exited; see {supervisor.log_dir}. Stopping.")
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        _say("stopping ...")
        return 0
    finally:
        supervisor.stop()
        embedded.stop(started)
        _say("stopped")


def test(pytest_args: list[str]) -> int:
    started = embedded.start()
    env = dict(os.environ)
    # The suite uses its own database (test_clarion) and its own Redis database, so a
    # `make demo` running in the same checkout is left alone.
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url(db=TEST_REDIS_DB)
    # The fake providers listen on 127.0.0.1.
    env.setdefault("CLARION_ALLOW_PRIVATE_DESTINATIONS", "true")
    try:
        return subprocess.run(
            [PYTHON, "-m", "pytest", *pytest_args], cwd=BASE_DIR, env=env
        ).returncode
    finally:
        embedded.stop(started)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "demo"
    if command == "demo":
        return demo()
    if command == "test":
        return test(argv[1:])
    if command == "services":
        embedded.start()
        _say(f"DATABASE_URL={embedded.database_url()}")
        _say(f"REDIS_URL={embedded.redis_url()}")
        return 0
    if command == "stop":
        embedded.stop(embedded.Started(postgres=True, redis=True))
        return 0
    if command == "clean-data":
        embedded.remove_data()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
