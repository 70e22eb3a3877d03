# tools/lib.sh — helpers sourced by the other scripts in tools/ (not run directly).
#   repo_root         print the repository root (resolved from this file's location)
#   ensure_packages   apt-get install any missing Debian packages (default: the project's list)
#   ensure_database   if DATABASE_URL is unset, start the private cluster (tools/pg) and export it
#   ensure_durable    refuse (or, for the private cluster, restart it durable) when DATABASE_URL runs without fsync
#   ensure_log_key    if TUITIONGUARD_LOG_KEY_FILE is unset, make (once) and export .data/log-key.pem
#   ensure_ca_kek     if TUITIONGUARD_CA_KEK_FILE is unset, make (once) and export .data/ca-kek (seals the CA's keys)

TG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TG_PACKAGES=(postgresql libpq-dev libxml2-dev libssl-dev pkg-config wrk xmlsec1)
# Issue #6, part 2: QR codes (libqrencode, libpng), decoding them in tests (zbarimg), the dashboard's browser test
# (headless Chromium) and a CJK font so its screenshot shows the Chinese labels.
TG_PACKAGES+=(libqrencode-dev libpng-dev zbar-tools chromium fonts-wqy-microhei)

# Swift lives in /opt/swift here; /etc/profile.d adds it to PATH only for login shells.
if ! command -v swift >/dev/null && [[ -x /opt/swift/usr/bin/swift ]]; then PATH="$PATH:/opt/swift/usr/bin"; fi

repo_root() { printf '%s\n' "$TG_ROOT"; }

# ensure_packages [pkg...] — installs only what is missing; runs `apt-get update` once, only if needed.
ensure_packages() {
  local pkg missing=()
  (($#)) || set -- "${TG_PACKAGES[@]}"
  for pkg in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  local sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "installing missing packages: ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# ensure_database — leaves an existing DATABASE_URL alone.
ensure_database() {
  [[ -z "${DATABASE_URL:-}" ]] || return 0
  "$TG_ROOT/tools/pg" start
  DATABASE_URL="$("$TG_ROOT/tools/pg" url)"
  export DATABASE_URL
}

# ensure_durable private|external — a service must never acknowledge money on a cluster that can lose commits.
# tools/test starts the private cluster with fsync, synchronous_commit and full_page_writes off; a private cluster found
# so is restarted durable (a test run using it at that moment fails), an external one is refused.
ensure_durable() {
  local unsafe
  unsafe="$(psql "$DATABASE_URL" -XtAc "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
            WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') AND setting = 'off'")" \
    || { echo "cannot reach the database at $DATABASE_URL" >&2; exit 1; }
  [[ -z "$unsafe" ]] && return 0
  if [[ "$1" == private ]]; then
    echo "the private cluster runs in fast mode ($unsafe, started by tools/test): restarting it durable" >&2
    TUITIONGUARD_PG_FAST=0 "$TG_ROOT/tools/pg" restart
  else
    echo "refusing to serve: the database at DATABASE_URL runs with $unsafe and could lose acknowledged payments" >&2
    exit 1
  fi
}

# ensure_log_key BINARY — the evidence log's signing key; made once under .data/ (git-ignored), never overwritten.
ensure_log_key() {
  [[ -z "${TUITIONGUARD_LOG_KEY_FILE:-}" ]] || return 0
  local key="$TG_ROOT/.data/log-key.pem"
  if [[ ! -f "$key" ]]; then
    mkdir -p "$TG_ROOT/.data"
    "$1" log keygen --out "$key" >/dev/null
    echo "made a new evidence-log signing key: $key" >&2
  fi
  export TUITIONGUARD_LOG_KEY_FILE="$key"
}

# ensure_ca_kek BINARY — the key-encryption key that seals the platform CA's and the signers' private keys;
# made once under .data/ (git-ignored), never overwritten: losing it makes every stored private key unreadable.
ensure_ca_kek() {
  [[ -z "${TUITIONGUARD_CA_KEK_FILE:-}" ]] || return 0
  local key="$TG_ROOT/.data/ca-kek"
  if [[ ! -f "$key" ]]; then
    mkdir -p "$TG_ROOT/.data"
    "$1" ca keygen --out "$key"
    echo "made a new key-encryption key for the platform CA: $key" >&2
  fi
  export TUITIONGUARD_CA_KEK_FILE="$key"
}
