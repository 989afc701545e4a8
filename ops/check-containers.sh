#!/usr/bin/env bash
# Lints the container files; exits non-zero on any finding.
#
#   ops/check-containers.sh [ROOT]      ROOT: the repository (default: this script's)
#
# - hadolint on Dockerfile and asterisk/Dockerfile (every finding counts; a justified
#   exception is an inline "# hadolint ignore=DLxxxx" with its reason above it);
# - shellcheck on the shell scripts the images and this directory ship;
# - docker-compose.yml against the compose specification's JSON schema (the copy that
#   check-jsonschema vendors), and then `docker compose config` (or `docker-compose
#   config`) when a compose client is installed, with throwaway secrets.
#
# The tools come from the ops extras: .venv/bin/pip install -e '.[ops]'
# (`make lint-containers` does that and runs this script).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${1:-$here/..}" && pwd)"
# The repository's virtualenv first, if there is one.
if [[ -d "$here/../.venv/bin" ]]; then
    PATH="$(cd "$here/../.venv/bin" && pwd):$PATH"
fi

for tool in hadolint shellcheck check-jsonschema; do
    if ! command -v "$tool" >/dev/null; then
        echo "check-containers: $tool is not installed; run: .venv/bin/pip install -e '.[ops]'" >&2
        exit 2
    fi
done

failed=0
check() {
    local what="$1"
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAILED: $what" >&2
        failed=1
    fi
}

cd "$root"
check "hadolint Dockerfile" hadolint --no-color Dockerfile
check "hadolint asterisk/Dockerfile" hadolint --no-color asterisk/Dockerfile
check "shellcheck" shellcheck asterisk/container/entrypoint.sh ops/*.sh
check "docker-compose.yml against the compose schema" \
    check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# A compose client also resolves what the schema cannot see: interpolation, references
# between services, volumes and networks, and the build contexts.
compose=()
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null && docker-compose version >/dev/null 2>&1; then
    compose=(docker-compose)
fi
if ((${#compose[@]})); then
    env_file="$(mktemp)"
    trap 'rm -f "$env_file"' EXIT
    printf 'POSTGRES_PASSWORD=check0123456789abcdef\nAMI_SECRET=check0123456789abcdef\n' \
        >"$env_file"
    check "${compose[*]} config" \
        "${compose[@]}" --env-file "$env_file" -f docker-compose.yml config --quiet
else
    echo "skipped: docker compose config (no compose client installed; the schema check ran)"
fi

exit "$failed"
