#!/usr/bin/env bash
# Install what the tests drive besides Python, when it is missing: Debian's chromium (the API docs test
# opens Swagger UI in it, the console tests drive the web console) and firefox-esr (the console in
# Firefox), and jq, curl and the AWS CLI (the README's shell examples run in the tests).
# It installs with apt-get when it runs as root on Debian; elsewhere it says what is missing, and the
# tests that need it are skipped (under CI=true they fail).
set -euo pipefail

declare -A package_of=([chromium]=chromium [firefox-esr]=firefox-esr [jq]=jq [curl]=curl [aws]=awscli)
missing=()
for command in chromium firefox-esr jq curl aws; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${package_of[$command]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} (apt-get) for the browser and README tests ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "Not installed: ${missing[*]}. The tests that need them are skipped; install them to run them." >&2
fi
