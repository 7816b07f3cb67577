#!/usr/bin/env bash
# Install (Debian packages) what the Spark training engine needs: Java 17 to run Spark, the
# PostgreSQL JDBC driver Spark reads the store with (/usr/share/java/postgresql.jar), and
# OpenBLAS, which Spark's ALS uses for its linear algebra instead of a slower pure-Java one.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(openjdk-17-jre-headless libpostgresql-jdbc-java libopenblas0-pthread)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("${package}")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "$(java -version 2>&1 | head -1) ready at $(command -v java); JDBC driver /usr/share/java/postgresql.jar"
