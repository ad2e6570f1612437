"""Runs Clarion on one machine: `python -m platform_core.dev demo|test|services|stop|clean-data`.

`demo` starts the embedded servers (when DATABASE_URL / REDIS_URL are unset), migrates,
sets up the demo tenant, then runs a mail sink, web, gRPC, the inbox stream, one Celery worker
per queue and beat under supervisord (platform_core.processes), which restarts whatever dies,
until Ctrl-C or SIGTERM; then it stops every one of them and the embedded servers it started.
`test` starts the same servers and runs the test suite against them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from contextlib import contextmanager
from pathlib import Path

from platform_core import embedded
from platform_core.processes import (
    ProcessManager,
    Program,
    beat_program,
    grpc_program,
    mail_sink_program,
    stop_left_behind,
    stream_program,
    web_program,
    worker_programs,
)

BASE_DIR = embedded.BASE_DIR
PYTHON = sys.executable
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


class _StopRequested(Exception):
    """Raised once, by the first SIGINT / SIGTERM / SIGHUP, to leave start-up or the wait."""


class _StopSignals:
    """Turns the first stop signal into one `_StopRequested`; later ones change nothing.

    `make` forwards a SIGTERM to its child and `kill -TERM -<pgid>` sends another one to the
    whole group, and an impatient user presses Ctrl-C twice: the shutdown must run once, to
    the end, whatever arrives while it runs.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferring = 0
        self._stopping = False

    def install(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        if self.received is None:
            self.received = signum
        if self._stopping or self._deferring:
            return
        self._stopping = True
        raise _StopRequested

    @contextmanager
    def deferred(self):
        """A section a stop signal must not cut in two; the stop is raised at its end."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self.received is not None and not self._stopping:
            self._stopping = True
            raise _StopRequested

    def shutting_down(self) -> None:
        """From here on signals are only noted."""
        self._stopping = True

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else "stop"


def _port_taken(port: int) -> bool:
    """True if a server already listens on 127.0.0.1:`port` (as our servers bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gunicorn and aiosmtpd do: a previous run's TIME_WAIT sockets do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _port_problems(ports: dict[str, tuple[int, str]]) -> list[str]:
    problems = []
    for variable, (port, what) in ports.items():
        if _port_taken(port):
            problems.append(
                f"port {port} ({what}) is already in use on 127.0.0.1. Stop what listens "
                f"there or choose another port: {variable}=<port> make demo "
                f"(e.g. {variable}={port + 1})"
            )
    return problems


def _wait_for_http(port: int, manager: ProcessManager, timeout: float = 180) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            if not manager.alive() or manager.states()["web"]["statename"] == "FATAL":
                return False
            time.sleep(0.3)
    return False


class _Reporter:
    """Says, in the demo's console, when supervisord restarts or gives up on a program."""

    def __init__(self, manager: ProcessManager):
        self.manager = manager
        self.running: dict[str, int] = {}
        self.state: dict[str, str] = {}

    def __call__(self) -> None:
        try:
            states = self.manager.states()
        except (OSError, xmlrpc.client.Error):
            return  # supervisord is going away; the caller notices
        for name, info in states.items():
            state, pid = info["statename"], info["pid"]
            before = self.state.get(name)
            self.state[name] = state
            log = self.manager.log_dir / f"{name}.log"
            if state == "RUNNING":
                if self.running.get(name, pid) != pid:
                    _say(f"{name} died and was restarted (pid {pid}); see {log}")
                self.running[name] = pid
            elif state == "BACKOFF" and before != "BACKOFF":
                _say(f"{name} exited while starting; retrying with backoff; see {log}")
            elif state == "FATAL" and before != "FATAL":
                _say(f"{name} keeps failing to start; gave up on it; see {log}")


def demo() -> int:
    port = int(os.environ.get("PORT", "8000"))
    smtp_port = int(os.environ.get("DEMO_SMTP_PORT", "1025"))
    grpc_port = int(os.environ.get("GRPC_PORT", "50051"))
    stream_port = int(os.environ.get("STREAM_PORT", "8001"))
    problems = _port_problems(
        {
            "PORT": (port, "the web server"),
            "STREAM_PORT": (stream_port, "the inbox stream"),
            "DEMO_SMTP_PORT": (smtp_port, "the mail sink"),
            "GRPC_PORT": (grpc_port, "the gRPC server"),
        }
    )
    if problems:
        for problem in problems:
            _say(problem)
        return 1

    stop = _StopSignals()
    stop.install()
    started = embedded.Started()
    manager: ProcessManager | None = None
    code = 0
    try:
        with stop.deferred():
            started = embedded.start()
        data = embedded.data_dir()
        env = dict(os.environ)
        metrics_dir = data / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        mailbox = data / "mailbox"
        env["DEMO_SMTP_PORT"] = str(smtp_port)
        env["DEMO_MAILBOX"] = str(mailbox)
        # The demo's mail sink listens on 127.0.0.1.
        env.setdefault("CLARION_ALLOW_PRIVATE_DESTINATIONS", "true")
        env.setdefault("CLARION_TENANT_BASE_URL", f"http://{{host}}:{port}")
        # /demo/inbox/ (on PORT) shows the widget, whose stream is on STREAM_PORT: another
        # origin, allowed like any front end's.
        env["CLARION_DEMO_PAGES"] = "true"
        env["STREAM_PORT"] = str(stream_port)
        origins = [o for o in env.get("CLARION_INBOX_CORS_ORIGINS", "").split(",") if o]
        env["CLARION_INBOX_CORS_ORIGINS"] = ",".join([*origins, f"http://demo.localhost:{port}"])

        _say("migrating the shared and tenant schemas ...")
        _manage("migrate_schemas", "--noinput", env={**env, "LOG_LEVEL": "WARNING"}, capture=True)
        banner = _manage("demo_setup", env=env, capture=True)
        manager = ProcessManager(
            programs=demo_programs(
                port=port,
                stream_port=stream_port,
                smtp_port=smtp_port,
                mailbox=mailbox,
                data=data,
                grpc_port=grpc_port,
            ),
            env=env,
            run_dir=data / "run",
            log_dir=data / "logs",
        )
        _say(f"starting web on http://localhost:{port}, workers and beat under supervisord ...")
        with stop.deferred():
            manager.spawn()
        manager.wait_ready()
        if not _wait_for_http(port, manager):
            _say(f"web did not come up; see {manager.log_dir / 'web.log'}")
            code = 1
            return code
        banner = banner.replace("{PORT}", str(port)).replace("{GRPC_PORT}", str(grpc_port))
        banner = banner.replace("{STREAM_PORT}", str(stream_port))
        print(banner, flush=True)
        _say(f"logs in {manager.log_dir}; a process that dies is restarted; Ctrl-C stops all")
        report = _Reporter(manager)
        while manager.alive():
            report()
            time.sleep(1)
        _say(f"supervisord exited; see {manager.log_dir / 'supervisord.log'}. Stopping.")
        code = 1
    except _StopRequested:
        pass
    finally:
        stop.shutting_down()
        _say(f"{stop.name}: stopping ..." if stop.received else "stopping ...")
        if manager is not None:
            manager.stop()
        embedded.stop(started)
        _say("stopped")
    return code


def demo_programs(
    *,
    port: int,
    stream_port: int,
    smtp_port: int,
    mailbox: Path,
    data: Path,
    grpc_port: int = 50051,
) -> list[Program]:
    """What `make demo` runs: the mail sink, web, gRPC, the inbox stream, one worker per queue
    and beat."""
    return [
        mail_sink_program(port=smtp_port, mailbox=mailbox),
        web_program(port=port),
        grpc_program(port=grpc_port),
        stream_program(port=stream_port),
        *worker_programs(),
        beat_program(schedule=data / "celerybeat-schedule"),
    ]


def test(pytest_args: list[str]) -> int:
    started = embedded.start()
    env = dict(os.environ)
    # The suite uses its own database (test_clarion) and its own Redis database, so a
    # `make demo` running in the same checkout is left alone.
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url(db=TEST_REDIS_DB)
    # The fake providers listen on 127.0.0.1.
    env.setdefault("CLARION_ALLOW_PRIVATE_DESTINATIONS", "true")
    # Every API test passes through the rate limiter; limits the suite never reaches.
    env.setdefault(
        "API_RATE_LIMITS", "events=100000/60,config=100000/60,read=100000/60,inbox=100000/60"
    )
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
        if stop_left_behind(embedded.data_dir() / "run"):
            _say("stopped a demo's supervisord and its processes")
        embedded.stop(embedded.Started(postgres=True, redis=True))
        return 0
    if command == "clean-data":
        embedded.remove_data()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
