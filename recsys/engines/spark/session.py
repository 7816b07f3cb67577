"""The Spark session the engine runs in: local mode on this machine, or a cluster's.

`spark_session` returns the process's active session when there is one, else starts one: under
`spark-submit` with the master URL and memory given to spark-submit, otherwise from the settings
(`RECSYS_SPARK_MASTER`, `RECSYS_SPARK_DRIVER_MEMORY`). The session carries the engine's work
folder (`RECSYS_SPARK_WORK_DIR`, as `WORK_DIR_CONF`), where Parquet passes between the driver
and Spark. What the engine needs is checked first, so a missing pyspark or Java is one clear
error, not a Java stack trace.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.config import Settings
from recsys.exceptions import EngineUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17
WORK_DIR_CONF = "spark.recsys.workDir"
INSTALL_PYSPARK = "pip install 'recsys[spark]'"
INSTALL_JAVA = "Debian's openjdk-17-jre-headless (`bash .ci/java.sh` installs it)"


def check_engine() -> None:
    """Raise `EngineUnavailableError` saying what to install when pyspark or Java 17 is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise EngineUnavailableError(
            f"the spark engine needs pyspark, which is not installed: {INSTALL_PYSPARK}"
        ) from None
    version = java_version()
    if version is None:
        raise EngineUnavailableError(
            f"the spark engine needs Java {MIN_JAVA}, and no java was found on PATH or in "
            f"JAVA_HOME: install {INSTALL_JAVA}"
        )
    if version < MIN_JAVA:
        raise EngineUnavailableError(
            f"the spark engine needs Java {MIN_JAVA} or newer; found Java {version}: install "
            f"{INSTALL_JAVA}"
        )


def java_version() -> int | None:
    """The major version of the `java` Spark would start (JAVA_HOME first), None if none."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).exists():
        return None
    try:
        shown = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        ).stderr
    except OSError:
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # Java 8 says "1.8"


def spark_session(settings: Settings) -> SparkSession:
    """The active Spark session, or a new one from `settings` (see the module docstring)."""
    check_engine()
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        builder = SparkSession.builder.appName("recsys").config(
            "spark.ui.showConsoleProgress", "false"
        )
        if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not started by spark-submit
            builder = _local_settings(builder, settings)
        if settings.spark_jdbc_jar.is_file():
            builder = builder.config("spark.jars", str(settings.spark_jdbc_jar))
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    if not session.conf.get(WORK_DIR_CONF, None):
        session.conf.set(WORK_DIR_CONF, str(settings.resolved_spark_work_dir.resolve()))
    return session


def active_session() -> SparkSession:
    """The process's Spark session, started from the environment's settings if there is none."""
    from pyspark.sql import SparkSession

    from recsys.config import get_settings

    return SparkSession.getActiveSession() or spark_session(get_settings())


def work_dir(session: SparkSession) -> Path:
    """The folder where Parquet passes between the driver and Spark (created if missing)."""
    folder = Path(session.conf.get(WORK_DIR_CONF, None) or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _local_cores(settings: Settings) -> int:
    """The worker threads of a local master (``local[4]``: 4; ``local[*]``, other masters: this
    machine's cores)."""
    found = re.fullmatch(r"local\[(\d+)(?:,\d+)?\]", settings.spark_master)
    return int(found.group(1)) if found else os.cpu_count() or 1


def _local_settings(builder: SparkSession.Builder, settings: Settings) -> SparkSession.Builder:
    """Master, memory, scratch and shuffle width of a session this process starts itself (a
    few shuffle partitions per core: Spark's 200 cost more in task set-up than they save on a
    few cores, measured on a 30,000-loan library; on a cluster spark-submit sets its own)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        # local mode talks to itself: no need to look up this machine's network name
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    scratch = settings.resolved_spark_work_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    builder = builder.config("spark.sql.shuffle.partitions", str(4 * _local_cores(settings)))
    return (
        builder.master(settings.spark_master)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.local.dir", str(scratch.resolve()))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
    )
