"""The broker's classpath: Kafka's jars fetched from Maven Central with ``mvn`` and cached per version.

The machines that run the suite have Java and Maven but no Docker and no access to the Apache download site.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from ._errors import JarFetchError, MissingToolError
from ._process import find_java, run_captured, tail_text

log = logging.getLogger("kafkalog.testing")

DEFAULT_KAFKA_VERSION: Final = "4.1.1"
#: Kafka 4.x leaves its logging backend out of the published POMs; without one the broker logs nothing.
LOG4J_VERSION: Final = "2.24.3"
#: Pinned: Maven 3.8.7 would otherwise resolve an old dependency plugin.
DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
CACHE_ENV: Final = "KAFKALOG_KAFKA_CACHE"

_MARKER: Final = "fetch-complete.json"
#: Jars whose absence means the fetch went wrong (checked after every fetch).
_REQUIRED_JAR_PREFIXES: Final = (
    "kafka-server-",
    "kafka-raft-",
    "kafka-metadata-",
    "kafka-storage-",
    "kafka-clients-",
    "scala-library-",
)
_VERSION_RE: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")
_FETCH_TIMEOUT_S: Final = 900.0

_POM_TEMPLATE: Final = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by kafkalog.testing: names the classpath of a Kafka broker; safe to delete. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkalog.testing</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def _default_cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "kafkalog"


def check_version(version: str) -> None:
    # The version ends up in a file name and in XML, so refuse anything unusual outright.
    if not _VERSION_RE.match(version):
        raise ValueError(f"not a Kafka version: {version!r}")


def _find_mvn() -> str:
    found = shutil.which("mvn")
    if found is None:
        raise MissingToolError("mvn", "fetch the Kafka broker jars from Maven Central")
    return found


def _fetch_complete(home: Path, version: str) -> bool:
    """True if an earlier fetch finished: the marker is written last, so a half-done fetch is redone."""
    try:
        marker = json.loads((home / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict):
        return False
    if marker.get("kafka_version") != version or marker.get("log4j_version") != LOG4J_VERSION:
        return False
    jars = marker.get("jars")
    if not isinstance(jars, list) or not jars:
        return False
    lib = home / "lib"
    return all(isinstance(jar, str) and (lib / jar).is_file() for jar in jars)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise fetches of the same version across processes (e.g. parallel test workers)."""
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def fetch_kafka_jars(version: str = DEFAULT_KAFKA_VERSION, cache_dir: Path | None = None) -> Path:
    """Return a directory holding the broker's classpath for ``version``, fetching it with Maven if needed.

    ``cache_dir`` (default ``$KAFKALOG_KAFKA_CACHE`` or ``~/.cache/kafkalog``) holds one ``kafka-<version>``
    directory per version, so only the first run pays for the download. A complete cache is returned without
    running (or needing) Maven.
    """
    check_version(version)
    home = (cache_dir if cache_dir is not None else _default_cache_root()) / f"kafka-{version}"
    lib = home / "lib"
    if _fetch_complete(home, version):
        return lib
    find_java()  # Maven itself needs Java; name the real culprit.
    mvn = _find_mvn()
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".lock"):
        if _fetch_complete(home, version):  # another process fetched it while we waited
            return lib
        (home / _MARKER).unlink(missing_ok=True)
        shutil.rmtree(lib, ignore_errors=True)
        pom = home / "pom.xml"
        pom.write_text(_POM_TEMPLATE.format(kafka=version, log4j=LOG4J_VERSION), encoding="utf-8")
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ]
        log.info("fetching Kafka %s jars with Maven into %s", version, lib)
        started = time.monotonic()
        try:
            result = run_captured(cmd, cwd=home, timeout=_FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            output = exc.output if isinstance(exc.output, str) else ""
            raise JarFetchError(
                f"mvn did not finish fetching Kafka {version} within {_FETCH_TIMEOUT_S:.0f}s:\n{tail_text(output)}"
            ) from None
        if result.returncode != 0:
            raise JarFetchError(
                f"mvn failed (exit {result.returncode}) fetching Kafka {version} jars; "
                f"command: {' '.join(cmd)}\n{tail_text(result.stdout)}"
            )
        jars = sorted(p.name for p in lib.glob("*.jar")) if lib.is_dir() else []
        missing = [prefix for prefix in _REQUIRED_JAR_PREFIXES if not any(j.startswith(prefix) for j in jars)]
        if missing:
            raise JarFetchError(
                f"mvn succeeded but {lib} lacks {', '.join(p.rstrip('-') for p in missing)}; "
                f"is {version} a published kafka_2.13 version?\n{tail_text(result.stdout)}"
            )
        marker = {"kafka_version": version, "log4j_version": LOG4J_VERSION, "jars": jars}
        tmp_marker = home / (_MARKER + ".tmp")
        tmp_marker.write_text(json.dumps(marker, indent=1), encoding="utf-8")
        tmp_marker.replace(home / _MARKER)
        log.info("fetched %d jars for Kafka %s in %.1fs", len(jars), version, time.monotonic() - started)
    return lib
