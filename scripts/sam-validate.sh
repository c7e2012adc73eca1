#!/usr/bin/env bash
# Validate template.yaml with the SAM CLI: the SAM transform itself (`sam validate`), then cfn-lint
# through SAM (`sam validate --lint`).
#
# SAM CLI pins an older boto3 than the project's, so it lives in its own virtual environment,
# .venv-sam, created here on first use. `sam validate` wants a region and credentials although it
# calls no AWS API for this template; fake ones are used unless real ones are already set.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
SAM_VENV=".venv-sam"
SAM="$SAM_VENV/bin/sam"

if [[ ! -x "$SAM" ]]; then
    echo "Installing aws-sam-cli into $SAM_VENV ..." >&2
    "$PYTHON" -m venv "$SAM_VENV"
    "$SAM_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$SAM_VENV/bin/python" -m pip install --quiet "aws-sam-cli==1.170.0"
fi

if [[ -z "${AWS_ACCESS_KEY_ID:-}" && -z "${AWS_PROFILE:-}" ]]; then
    export AWS_ACCESS_KEY_ID=testing
    export AWS_SECRET_ACCESS_KEY=testing
    export AWS_SESSION_TOKEN=testing
fi
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# No usage telemetry from validations.
export SAM_CLI_TELEMETRY=0

# samconfig.toml turns lint on for every `sam validate`, and linting alone skips the SAM transform
# (it misses, for example, an Api event without Method); so the transform runs once without it.
no_lint_config="$(mktemp --suffix=.toml)"
trap 'rm -f "$no_lint_config"' EXIT
echo "version = 0.1" > "$no_lint_config"
"$SAM" validate --config-file "$no_lint_config" --region us-east-1 --template-file template.yaml
"$SAM" validate --lint --region us-east-1 --template-file template.yaml
