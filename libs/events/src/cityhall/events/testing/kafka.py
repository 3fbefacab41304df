"""A real Apache Kafka 4.x broker (KRaft, one node) run with the machine's Java, for tests.

The jars come from Maven Central through `deploy/local/kafka/pom.xml` (fetched on first
use), the configuration from `deploy/local/kafka/server.properties.template`. The broker
listens on 127.0.0.1 only, on free ports, and keeps its log under `work_dir`.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from cityhall.events.localpg import free_port, run_coroutine_sync

KAFKA_DIR = Path("deploy/local/kafka")
_STAMP = ".pom-sha256"  # in lib/: which pom.xml the jars were copied for


class KafkaStartError(RuntimeError):
    """The broker could not be prepared or did not become ready."""


def repo_root() -> Path:
    """The checkout that holds `deploy/local/kafka/pom.xml`.

    `CITYHALL_REPO_ROOT` wins; otherwise the nearest parent of the working directory that has
    it, and last the checkout this file lives in (an editable install).
    """
    env = os.environ.get("CITYHALL_REPO_ROOT")
    if env:
        root = Path(env).expanduser().absolute()
        if not (root / KAFKA_DIR / "pom.xml").is_file():
            raise KafkaStartError(f"CITYHALL_REPO_ROOT={env} has no {KAFKA_DIR}/pom.xml")
        return root
    for start in (Path.cwd().absolute(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if (candidate / KAFKA_DIR / "pom.xml").is_file():
                return candidate
    raise KafkaStartError(f"no {KAFKA_DIR}/pom.xml above {Path.cwd()}; set CITYHALL_REPO_ROOT")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_jars(kafka_dir: Path, timeout: float = 600.0) -> Path:
    """`kafka_dir/lib`, filled by Maven unless it already holds the jars for the current pom.xml."""
    lib = kafka_dir / "lib"
    pom_hash = hashlib.sha256((kafka_dir / "pom.xml").read_bytes()).hexdigest()

    def current() -> bool:
        stamp = lib / _STAMP
        return stamp.is_file() and stamp.read_text().strip() == pom_hash and any(lib.glob("kafka_2.13-*.jar"))

    if current():
        return lib
    # Two test sessions may start together; one runs Maven, the other waits for it.
    lock = (
        Path(tempfile.gettempdir())
        / f"cityhall-kafka-mvn-{hashlib.sha256(bytes(kafka_dir)).hexdigest()[:12]}.lock"
    )
    with _file_lock(lock):
        if current():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaStartError(
                "Maven (mvn) is not installed; it fetches the Kafka jars from Maven Central"
            )
        try:
            proc = subprocess.run(
                [mvn, "-q", "-B", "package"],
                cwd=kafka_dir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaStartError(f"mvn package in {kafka_dir} took more than {timeout} s") from exc
        if proc.returncode != 0 or not any(lib.glob("kafka_2.13-*.jar")):
            raise KafkaStartError(
                f"mvn package in {kafka_dir} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        (lib / _STAMP).write_text(pom_hash + "\n")
    return lib


def _die_with_parent() -> None:
    """Runs in the child before exec: the broker gets SIGTERM when the test process dies,
    so a killed test run leaves no 512 MB JVM behind. (Linux only; tied to the forking thread.)"""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def create_topics(bootstrap_servers: str, names: Sequence[str], partitions: int = 4) -> None:
    """Create `names` with `partitions` partitions each (replication 1); existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="cityhall-testing")
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        for topic, code, *rest in response.topic_errors:
            if code and for_code(code) is not TopicAlreadyExistsError:
                raise for_code(code)(f"could not create topic {topic}: {rest[0] if rest else ''}")
    finally:
        await admin.close()


def _new_cluster_id() -> str:
    """A random cluster id as Kafka makes them: URL-safe base64 of a UUID, never starting with "-"
    (the storage tool would read such an id as an option, and the format fails)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class LocalKafka:
    """One broker process: `start()` returns its bootstrap address, `stop()` ends it."""

    def __init__(self, work_dir: Path, *, heap: str = "512m", startup_timeout: float = 90.0) -> None:
        self.work_dir = Path(work_dir).absolute()
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.bootstrap_servers: str | None = None
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.work_dir / "broker.log"

    def start(self) -> str:
        if self.bootstrap_servers is not None:
            return self.bootstrap_servers
        began = time.monotonic()
        kafka_dir = repo_root() / KAFKA_DIR
        lib = ensure_jars(kafka_dir)
        java = shutil.which("java")
        if java is None:
            raise KafkaStartError("java is not installed (Kafka 4 needs Java 17 or newer)")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Free ports are picked before the broker binds them, so another process (a parallel
        # test session) can take one in between: then try again with new ports.
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                bootstrap = self._start_once(java, kafka_dir, lib)
            except KafkaStartError:
                if attempt == attempts or "Address already in use" not in self.log_tail(200):
                    raise
                continue
            self.bootstrap_servers = bootstrap
            self.startup_seconds = time.monotonic() - began
            return bootstrap
        raise AssertionError("unreachable")

    def _start_once(self, java: str, kafka_dir: Path, lib: Path) -> str:
        classpath = f"{lib}/*"
        log_dirs = self.work_dir / "data"
        shutil.rmtree(log_dirs, ignore_errors=True)  # a fresh log every start
        broker_port, controller_port = free_port(), free_port()
        while controller_port == broker_port:
            controller_port = free_port()
        template = string.Template((kafka_dir / "server.properties.template").read_text())
        properties = self.work_dir / "server.properties"
        properties.write_text(
            template.substitute(BROKER_PORT=broker_port, CONTROLLER_PORT=controller_port, LOG_DIRS=log_dirs)
        )
        jvm = [
            java,
            f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2.properties'}",
            "-Djava.awt.headless=true",
            # The client compiler only: a fresh broker's optimising (C2) compilations took 20-70 %
            # of a core in bursts for minutes after each start, on the cores that the tests and
            # benchmarks measure; C1's code serves a local broker's load at ~20 % of a core.
            "-XX:TieredStopAtLevel=1",
        ]
        cluster_id = _new_cluster_id()
        fmt = subprocess.run(
            [*jvm, "-cp", classpath, "kafka.tools.StorageTool", "format", "--standalone",
             "-t", cluster_id, "-c", str(properties)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if fmt.returncode != 0:
            raise KafkaStartError(f"kafka-storage format failed:\n{fmt.stdout}\n{fmt.stderr}")

        self._log = self.log_file.open("wb")  # this attempt's log only: its tail explains a failure
        self._process = subprocess.Popen(
            [*jvm, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-cp", classpath, "kafka.Kafka", str(properties)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        bootstrap = f"127.0.0.1:{broker_port}"
        try:
            self._wait_ready(bootstrap)
        except BaseException:
            self.stop()
            raise
        return bootstrap

    def _wait_ready(self, bootstrap: str) -> None:
        """Until an admin client can list topics; fail early when the JVM exits."""
        deadline = time.monotonic() + self.startup_timeout
        process = self._process
        assert process is not None

        async def list_topics() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                await admin.list_topics()
            finally:
                await admin.close()

        host, port = bootstrap.rsplit(":", 1)
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise KafkaStartError(f"the broker exited with {process.returncode}:\n{self.log_tail()}")
            try:
                # A plain connect first: the admin client logs every refused connection.
                with socket.create_connection((host, int(port)), timeout=2):
                    pass
                run_coroutine_sync(list_topics, timeout=15)
                return
            except (KafkaError, OSError, TimeoutError) as exc:
                last_error = exc
            time.sleep(0.1)  # the JVM is still starting: nothing to wait on but the port
        raise KafkaStartError(
            f"the broker was not ready within {self.startup_timeout} s ({last_error!r}):\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL after 30 s."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.bootstrap_servers = None

    def create_topics(self, names: Sequence[str], partitions: int = 4) -> None:
        """Create topics on this broker (sync; `create_topics` is the async form)."""
        if self.bootstrap_servers is None:
            raise KafkaStartError("LocalKafka is not started")
        bootstrap = self.bootstrap_servers
        run_coroutine_sync(lambda: create_topics(bootstrap, names, partitions), timeout=60)

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
