"""The demo's processes under supervisord: which programs run, and the manager that runs them.

`make demo` (platform_core.dev) writes a supervisord config under the data folder and runs
supervisord in the foreground, in a session of its own, so that only dev.py signals it. A
program that dies is restarted; one that dies while starting is retried with a growing delay
(1 s, 2 s, 3 s, ...) and given up on (FATAL) after `startretries`. Stopping sends SIGTERM to
each program's main process (celery and gunicorn then shut their children down warmly) and
SIGKILL to the program's whole process group if it has not exited after `stopwaitsecs`.
See http://supervisord.org/configuration.html#program-x-section-settings.

This module knows nothing of Django: dev.py imports it before settings exist.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
# Worker processes (concurrency) per queue in the demo; `system` runs the sweepers.
DEMO_WORKERS = {"critical": 1, "high": 1, "normal": 2, "low": 1, "system": 1}
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Program:
    """One supervised program: its argv, and how long it may take to start and to stop."""

    name: str
    argv: list[str]
    # Running this long counts as started; an earlier exit is a failed start (retried with backoff).
    startsecs: int = 3
    startretries: int = 5
    stopwaitsecs: int = 20
    # Lower starts first and stops last.
    priority: int = 500
    # supervisord stops one group after another but every program of a group at once.
    group: str | None = None


def mail_sink_program(*, port: int, mailbox: Path) -> Program:
    """A local SMTP server delivering into a Maildir: the demo tenant's SMTP integration."""
    argv = [PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    argv += ["-c", "aiosmtpd.handlers.Mailbox", str(mailbox)]
    return Program("mail-sink", argv, startsecs=1, stopwaitsecs=5, priority=10)


def web_program(*, port: int) -> Program:
    argv = [str(BIN / "gunicorn"), "platform_core.wsgi"]
    argv += ["-c", str(BASE_DIR / "docker" / "gunicorn.conf.py")]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    # gunicorn's graceful_timeout is 20 s; give it a little more before SIGKILL.
    return Program("web", argv, stopwaitsecs=25, priority=20, group="platform")


def grpc_program(*, port: int) -> Program:
    """`manage.py grpcserver`: the gRPC trigger API (stops gracefully on SIGTERM)."""
    argv = [PYTHON, str(BASE_DIR / "manage.py"), "grpcserver", "--address", "127.0.0.1"]
    argv += ["--port", str(port)]
    return Program("grpc", argv, stopwaitsecs=15, priority=20, group="platform")


def stream_program(*, port: int) -> Program:
    """The real-time inbox (uvicorn): Server-Sent Events for `/api/v1/inbox/{id}/stream`."""
    argv = [PYTHON, "-m", "notifications.stream", "--host", "127.0.0.1", "--port", str(port)]
    # uvicorn closes open streams 3 s into a stop.
    return Program("stream", argv, stopwaitsecs=10, priority=25, group="platform")


def worker_programs(workers: dict[str, int] | None = None) -> list[Program]:
    """One Celery worker per queue, named `<queue>@<host>`."""
    programs = []
    for queue, concurrency in (workers or DEMO_WORKERS).items():
        argv = [str(BIN / "celery"), "-A", "platform_core", "worker", "-Q", queue]
        argv += ["-n", f"{queue}@%h", "-c", str(concurrency)]
        argv += ["--without-gossip", "--without-mingle", "-l", "INFO"]
        programs.append(Program(f"worker-{queue}", argv, priority=30, group="platform"))
    return programs


def beat_program(*, schedule: Path) -> Program:
    argv = [str(BIN / "celery"), "-A", "platform_core", "beat", "-l", "INFO"]
    argv += ["--pidfile", "", "--schedule", str(schedule)]
    return Program("beat", argv, stopwaitsecs=10, priority=40, group="platform")


def _escape(value: str) -> str:
    # supervisord expands %(name)s in its values; a literal % is written %%.
    return value.replace("%", "%%")


def _socket_path(run_dir: Path) -> Path:
    candidate = run_dir / "supervisor.sock"
    if len(str(candidate)) <= _MAX_SOCKET_PATH:
        return candidate
    digest = hashlib.sha256(str(run_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"clarion-{digest}" / "supervisor.sock"


def supervisord_config(
    *, programs: list[Program], run_dir: Path, log_dir: Path, socket: Path
) -> str:
    """The text of a supervisord.conf running `programs` in the foreground."""
    lines = [
        "[supervisord]",
        "nodaemon = true",
        # dev.py reports restarts itself; supervisord's own log stays in its file.
        "silent = true",
        f"logfile = {_escape(str(log_dir / 'supervisord.log'))}",
        "logfile_maxbytes = 10MB",
        "logfile_backups = 2",
        "loglevel = info",
        f"pidfile = {_escape(str(run_dir / 'supervisord.pid'))}",
        f"childlogdir = {_escape(str(log_dir))}",
        f"directory = {_escape(str(BASE_DIR))}",
    ]
    if os.geteuid() == 0:
        # Stated, so supervisord does not warn about running as root.
        lines.append(f"user = {getpass.getuser()}")
    lines += [
        "",
        "[unix_http_server]",
        f"file = {_escape(str(socket))}",
        "chmod = 0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl = unix://{_escape(str(socket))}",
    ]
    for program in programs:
        lines += [
            "",
            f"[program:{program.name}]",
            f"command = {_escape(shlex.join(program.argv))}",
            f"directory = {_escape(str(BASE_DIR))}",
            f"priority = {program.priority}",
            "autostart = true",
            "autorestart = true",
            f"startsecs = {program.startsecs}",
            f"startretries = {program.startretries}",
            "stopsignal = TERM",
            f"stopwaitsecs = {program.stopwaitsecs}",
            # TERM to the main process only (celery and gunicorn stop their own children
            # warmly); SIGKILL to the whole group when it overstays stopwaitsecs.
            "stopasgroup = false",
            "killasgroup = true",
            "redirect_stderr = true",
            f"stdout_logfile = {_escape(str(log_dir / f'{program.name}.log'))}",
            "stdout_logfile_maxbytes = 20MB",
            "stdout_logfile_backups = 2",
        ]
    groups: dict[str, list[Program]] = {}
    for program in programs:
        if program.group:
            groups.setdefault(program.group, []).append(program)
    for group, members in groups.items():
        lines += [
            "",
            f"[group:{group}]",
            f"programs = {','.join(member.name for member in members)}",
            f"priority = {min(member.priority for member in members)}",
        ]
    return "\n".join(lines) + "\n"


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's Unix socket."""

    def __init__(self, socket: Path):
        super().__init__()
        self.socket = socket

    def make_connection(self, host):
        import http.client  # noqa: PLC0415
        import socket as socketlib  # noqa: PLC0415

        path = str(self.socket)

        class Connection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
                self.sock.settimeout(5)
                self.sock.connect(path)

        return Connection("localhost")


@dataclass
class ProcessManager:
    """supervisord running `programs` with `env`; config, pid and socket under `run_dir`."""

    programs: list[Program]
    env: dict[str, str]
    run_dir: Path
    log_dir: Path
    proc: subprocess.Popen | None = None
    # Every pid any program ran with, so that stop() can make sure all of them are gone.
    seen_pids: dict[str, set[int]] = field(default_factory=dict)

    @property
    def socket(self) -> Path:
        return _socket_path(self.run_dir)

    @property
    def config_path(self) -> Path:
        return self.run_dir / "supervisord.conf"

    def write_config(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            supervisord_config(
                programs=self.programs,
                run_dir=self.run_dir,
                log_dir=self.log_dir,
                socket=self.socket,
            )
        )
        return self.config_path

    def spawn(self) -> None:
        """Start supervisord (in a session of its own) without waiting for it."""
        config = self.write_config()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "supervisor.supervisord", "-c", str(config)],
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until supervisord answers on its socket; RuntimeError if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"supervisord exited; see {self.log_dir / 'supervisord.log'}")
            try:
                self.states()
                return
            except (OSError, xmlrpc.client.Error):
                time.sleep(0.1)
        raise RuntimeError(f"supervisord did not answer within {timeout:.0f} s")

    def start(self, timeout: float = 30) -> None:
        self.spawn()
        self.wait_ready(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _rpc(self):
        return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(self.socket))

    def states(self) -> dict[str, dict]:
        """Each program's supervisord info (statename, pid, description, ...) by name."""
        infos = self._rpc().supervisor.getAllProcessInfo()
        for info in infos:
            if info["pid"]:
                self.seen_pids.setdefault(info["name"], set()).add(info["pid"])
        return {info["name"]: info for info in infos}

    def wait_running(self, names: list[str] | None = None, timeout: float = 60) -> dict[str, dict]:
        """Wait until the named programs (default: all) are RUNNING; their infos."""
        names = names or [program.name for program in self.programs]
        deadline = time.monotonic() + timeout
        while True:
            states = self.states()
            if all(states[name]["statename"] == "RUNNING" for name in names):
                return states
            if time.monotonic() > deadline:
                summary = ", ".join(f"{n}: {states[n]['statename']}" for n in names)
                raise RuntimeError(f"not all running after {timeout:.0f} s ({summary})")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every program and supervisord; SIGKILL whatever outlives the grace period."""
        if self.proc is None:
            return
        if self.alive():
            try:
                self.states()  # a last look at the pids, for the check below
            except (OSError, xmlrpc.client.Error):
                pass
            self.proc.send_signal(signal.SIGTERM)
            grace = max((program.stopwaitsecs for program in self.programs), default=10) + 10
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # supervisord puts each program in a process group of its own; make sure none of
        # them outlived it (a SIGKILLed worker's pool children, say).
        for pids in self.seen_pids.values():
            for pid in pids:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def stop_left_behind(run_dir: Path, timeout: float = 40) -> bool:
    """Shut down a supervisord still answering on `run_dir`'s socket; True if one did."""
    rpc = xmlrpc.client.ServerProxy(
        "http://localhost", transport=_UnixTransport(_socket_path(run_dir))
    )
    try:
        pid = rpc.supervisor.getPID()
        rpc.supervisor.shutdown()
    except (OSError, xmlrpc.client.Error):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    return True
