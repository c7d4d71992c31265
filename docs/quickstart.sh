#!/usr/bin/env bash
# The whole release routine on this machine, without network: a registry on
# loopback, a base image made from the host's python3.11, a one-flavour
# project, then `check`, `build`, `test`, a dry run and a real
# `push --latest`. Needs Docker Engine, Debian's docker-registry, python3.11,
# git and curl. A test runs this file as written (xtask/tests/it/docs.rs).
#
#   docs/quickstart.sh             # a free port on 127.0.0.1, chosen here
#   PORT=5055 docs/quickstart.sh   # that port; refused when anything answers there
#
# It only ever pushes to the registry it started itself, and on every exit
# (success, a failed step, Ctrl-C) it stops that registry by its PID and
# removes its temporary directory and the images it made.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'quickstart: %s\n' "$*" >&2; }

# 0. A port: the caller's, or one the kernel says is free right now.
if [[ -z ${PORT:-} ]]; then
  PORT=$(python3.11 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
  say "PORT='$PORT' is not a port number (1 to 65535); leave PORT unset to get a free one"
  exit 2
fi
REG=127.0.0.1:$PORT
if (: <>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  say "something already answers on $REG; this demo pushes only to a registry it starts itself: pick another PORT, or leave PORT unset to get a free one"
  exit 2
fi

# Everything goes under one temporary directory, removed on every exit
# with the registry and the images made below. The tool's cache of checks
# and test passes goes there too.
Q=$(mktemp -d)
export XDG_CACHE_HOME=$Q/cache
REGISTRY_PID=""
IMAGES=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $REGISTRY_PID ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
  # Each name, and any image a failed build left labelled with that name.
  local name ids
  for name in "${IMAGES[@]}"; do
    ids=$(docker images -a -q --no-trunc --filter "label=org.opencontainers.image.ref.name=$name")
    # shellcheck disable=SC2086 # one word per image ID
    docker rmi "$name" $ids >/dev/null 2>&1 || true
  done
  rm -rf "$Q"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. A registry on loopback: Debian's docker-registry, storage in $Q. It
#    answers with a header holding a random token, so what answers on the
#    port is known to be this registry, not another that got there first.
TOKEN=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  headers:\n    X-Quickstart-Registry: [%s]\n' \
  "$Q/storage" "$REG" "$TOKEN" > "$Q/registry.yml"
docker-registry serve "$Q/registry.yml" > "$Q/registry.log" 2>&1 &
REGISTRY_PID=$!
say "registry on $REG, PID $REGISTRY_PID"
for _ in $(seq 100); do
  kill -0 "$REGISTRY_PID" 2>/dev/null || break
  curl -sf -o /dev/null "http://$REG/v2/" && break
  sleep 0.2
done
headers=$(curl -sf -D - -o /dev/null "http://$REG/v2/" || true)
if ! grep -qi "^X-Quickstart-Registry: $TOKEN" <<<"$headers"; then
  say "the registry this demo started does not answer on $REG (another program took the port?); its log:"
  tail -n 5 "$Q/registry.log" >&2
  exit 1
fi
IMAGES=("$REG/itwinai:0.1.0-torch2.6-noble" "$REG/itwinai:demo-latest" "$REG/base:noble")

# 2. A base image without network: the host's python3.11 and the libraries
#    it loads, an os-release saying noble, and torch 2.6.0's metadata (what
#    the framework check reads), imported and pushed to the registry.
B=$Q/base
mkdir -p "$B/etc" "$B/usr/local/lib/python3.11/dist-packages/torch-2.6.0.dist-info"
# shellcheck disable=SC2046 # one word per library path
cp -L --parents /usr/bin/python3.11 $(ldd /usr/bin/python3.11 | grep -o '/[^ ]*') "$B"
cp -rL --parents /usr/lib/python3.11 "$B"
ln -s python3.11 "$B/usr/bin/python3"
echo VERSION_CODENAME=noble > "$B/etc/os-release"
printf 'Metadata-Version: 2.1\nName: torch\nVersion: 2.6.0\n' \
  > "$B/usr/local/lib/python3.11/dist-packages/torch-2.6.0.dist-info/METADATA"
tar -C "$B" -c . | docker import - "$REG/base:noble"
docker push "$REG/base:noble"

# 3. A project: pyproject.toml, the catalog, a Dockerfile that records its
#    provenance, all committed.
P=$Q/project
mkdir -p "$P/env-files/demo"
printf '[project]\nname = "demo"\nversion = "0.1.0"\n' > "$P/pyproject.toml"
cat > "$P/env-files/images.toml" <<EOF
registry = "$REG"
production = "itwinai"
development = "itwinai-dev"

[flavours.demo]
dockerfile = "env-files/demo/Dockerfile"
framework = "torch"
framework-version = "2.6"
distro = "noble"
base-image = "$REG/base:noble"
latest = "demo-latest"
test = ["python3", "-c", "import importlib.metadata as m; print('torch', m.version('torch'))"]
EOF
cat > "$P/env-files/demo/Dockerfile" <<'EOF'
ARG BASE_IMG_NAME
FROM ${BASE_IMG_NAME}
COPY pyproject.toml /app/pyproject.toml
ARG BASE_IMG_NAME BASE_IMG_DIGEST COMMIT_HASH CREATION_DATE IMAGE_FULL_NAME ITWINAI_VERSION
LABEL org.opencontainers.image.created="${CREATION_DATE}" \
      org.opencontainers.image.version="${ITWINAI_VERSION}" \
      org.opencontainers.image.revision="${COMMIT_HASH}" \
      org.opencontainers.image.ref.name="${IMAGE_FULL_NAME}" \
      org.opencontainers.image.base.name="${BASE_IMG_NAME}" \
      org.opencontainers.image.base.digest="${BASE_IMG_DIGEST}"
EOF
git -C "$P" init -q -b main
git -C "$P" add -A
git -C "$P" -c user.name=Demo -c user.email=demo@example.invalid commit -q -m demo

# 4. The release routine, run from this checkout on that project.
cargo xtask --root "$P" check
cargo xtask --root "$P" image build demo
cargo xtask --root "$P" image test demo
cargo xtask --root "$P" image push demo --latest --dry-run
cargo xtask --root "$P" image push demo --latest
curl -s "http://$REG/v2/itwinai/tags/list"; echo
say "done; stopping the registry and removing what this demo made"
