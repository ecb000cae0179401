#!/usr/bin/env bash
# Runs a knn-server image and checks it over HTTP, with an API key file mounted where the image's
# command reads it (/run/secrets/knn-api-keys): the service runs as a non-root user, /health
# answers without a key, a request without the key is refused (401), an upsert and a query work, and after the container is removed and started again on the
# same /data volume the vectors are still there, and the volume holds only the service's files
# (no cache of a library). Prints a transcript.
# With BACKEND (vulkan): the service runs `--backend BACKEND`, /info must name that backend and its
# adapter, the query's hits must equal the CPU backend's on the same data (same image, `--backend
# cpu`), and the image must refuse to start with KNN_VULKAN_REQUIRE_HARDWARE=1 when its only
# adapter is a CPU one (lavapipe), naming it.
#
#   nix build .#image-cpu && ./result > /tmp/knn.tar && nix/tests/image-run.sh /tmp/knn.tar
#   nix build .#image-vulkan && ./result > /tmp/knn-vulkan.tar && nix/tests/image-run.sh /tmp/knn-vulkan.tar vulkan
#   ENGINE=docker nix/tests/image-run.sh /tmp/knn.tar
#
# ENGINE: podman (default) or docker. Without networking in the engine (NETWORK=none, as the
# nix-eval build mode runs podman), requests go through the container's network namespace with
# nsenter instead of a published port. PODMAN_GLOBAL_ARGS are placed before `run` (build mode:
# "--runtime runc --cgroup-manager cgroupfs"; also set CONTAINERS_CONF to a file with
# `default_ulimits = []`, as ../shared/nix-eval/run-image.sh does).
set -euo pipefail
[[ ($# -eq 1 || $# -eq 2) && -f "$1" ]] || {
  echo "usage: image-run.sh IMAGE.tar [BACKEND]" >&2
  exit 2
}
backend=${2:-}
engine=${ENGINE:-podman}
network=${NETWORK:-none}
read -r -a global <<<"${PODMAN_GLOBAL_ARGS:-}"
[[ "$engine" == podman ]] || global=()
name=knn-image-run-$$
volume=knn-image-run-data-$$
keys=$(mktemp)
key=image-run-$$-$RANDOM$RANDOM$RANDOM
printf '%s\n' "$key" >"$keys"
chmod 0644 "$keys"
port=18080
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
run() {
  echo "\$ $*" >&2
  "$@"
}
ctr() { "$engine" "${global[@]}" "$@"; }

cleanup() {
  ctr rm -f "$name" >/dev/null 2>&1 || true
  ctr volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -f "$keys"
}
trap cleanup EXIT

image=$(ctr load -q -i "$1" | sed -n 's/^Loaded image[^:]*: *//p' | tail -1)
[[ -n "$image" ]] || {
  echo "could not load $1" >&2
  exit 1
}
echo "image: $image ($(du -h "$1" | cut -f1) tar, $(gzip -c "$1" | wc -c | awk '{printf "%.1f MB", $1/1e6}') gzipped)"

# The image's own command, or the same with `--backend B`.
serve=(serve --listen 0.0.0.0:8080 --data-dir /data --api-key-file /run/secrets/knn-api-keys)
secret=(-v "$keys:/run/secrets/knn-api-keys:ro")
start() { # [BACKEND]
  local net=(--network "$network") command=()
  [[ "$network" == none ]] || net+=(-p "127.0.0.1:$port:8080")
  [[ -z "${1:-}" ]] || command=("${serve[@]}" --backend "$1")
  run ctr run -d --name "$name" "${net[@]}" -v "$volume:/data" "${secret[@]}" "$image" "${command[@]}" >/dev/null
}
http() { # METHOD PATH [JSON]; with the key unless NO_KEY=1
  local url=http://127.0.0.1:8080$2 args=(-sS -X "$1" -H 'content-type: application/json')
  [[ "${NO_KEY:-0}" == 1 ]] || args+=(-H "Authorization: Bearer $key")
  [[ $# -lt 3 ]] || args+=(-d "$3")
  if [[ "$network" == none ]]; then
    nsenter -t "$(ctr inspect -f '{{.State.Pid}}' "$name")" -n curl "${args[@]}" "$url"
  else
    curl "${args[@]}" "http://127.0.0.1:$port$2"
  fi
}
wait_healthy() {
  for _ in $(seq 50); do
    if out=$(http GET /health 2>/dev/null); then
      echo "GET /health -> $out"
      return 0
    fi
    sleep 0.2
  done
  fail "/health never answered"
  ctr logs "$name" | tail -20
  return 1
}

start "$backend"
wait_healthy
user=$(ctr top "$name" user,pid,args 2>/dev/null | tail -n +2 || true)
echo "processes: $user"
grep -qE '^(root|0) ' <<<"$user" && fail "the service runs as root"
unkeyed=$(NO_KEY=1 http GET /collections)
echo "GET /collections without the key -> $unkeyed"
grep -q '"field":"authorization"' <<<"$unkeyed" || fail "a request without the key was not refused"
info=$(http GET /info)
echo "GET /info -> $info"
if [[ -n "$backend" ]]; then
  [[ "$(jq -r .backend <<<"$info")" == "$backend" ]] || fail "/info does not name the $backend backend"
  [[ -n "$(jq -r '.device // empty' <<<"$info")" ]] || fail "/info names no adapter"
fi
echo "POST /collections -> $(http POST /collections '{"name":"demo","dimension":3,"metric":"cosine"}')"
echo "POST /collections/demo/upsert -> $(http POST /collections/demo/upsert '{"vectors":[{"id":"a","values":[1,0,0]},{"id":"b","values":[0,1,0]},{"id":"c","values":[0.9,0.1,0]}]}')"
query='{"vector":[1,0,0],"k":2}'
q1=$(http POST /collections/demo/query "$query")
echo "POST /collections/demo/query -> $q1"
grep -q '"a"' <<<"$q1" || fail "the query does not return a"

run ctr rm -f "$name" >/dev/null
start "$backend"
wait_healthy
q2=$(http POST /collections/demo/query "$query")
echo "after restart on the same volume: POST /collections/demo/query -> $q2"
[[ "$q1" == "$q2" ]] || fail "the vectors did not survive the restart"
ctr logs "$name" 2>&1 | tail -5 | sed 's/^/log: /'
run ctr rm -f "$name" >/dev/null

if [[ -n "$backend" && "$backend" != cpu ]]; then
  start cpu
  wait_healthy
  q_cpu=$(http POST /collections/demo/query "$query")
  echo "the CPU backend on the same volume: POST /collections/demo/query -> $q_cpu"
  hits() { jq -c '[.hits[] | {id, score: (.score * 1e5 | round)}]' <<<"$1"; }
  [[ "$(hits "$q1")" == "$(hits "$q_cpu")" ]] || fail "the $backend hits differ from the CPU backend's"
  run ctr rm -f "$name" >/dev/null
fi

# What the volume holds: the service's own files only.
files=$(ctr run --rm --network none -v "$volume:/data" --entrypoint /bin/sh "$image" -c 'find /data' 2>/dev/null ||
  ctr volume inspect -f '{{.Mountpoint}}' "$volume" | xargs -I{} find {} -printf '/data/%P\n')
echo "the volume holds: $(tr '\n' ' ' <<<"$files")"
grep -q '/\.cache' <<<"$files" && fail "a cache was written into the data volume"

if [[ "$backend" == vulkan ]]; then
  refused=$(ctr run --rm --network none -e KNN_VULKAN_REQUIRE_HARDWARE=1 -v "$volume:/data" "${secret[@]}" "$image" "${serve[@]}" --backend vulkan 2>&1) &&
    fail "KNN_VULKAN_REQUIRE_HARDWARE=1 did not refuse a CPU adapter"
  echo "with KNN_VULKAN_REQUIRE_HARDWARE=1: $(tail -n 1 <<<"$refused")"
  grep -qi 'llvmpipe\|lavapipe\|Cpu' <<<"$refused" || fail "the refusal does not name the CPU adapter"
fi

((failures == 0)) || exit 1
echo "image-run.sh: all checks passed"
