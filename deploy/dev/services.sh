#!/usr/bin/env bash
# Starts the real services the integration tests use, on loopback, with their
# files under one state directory, and installs nginx for the gateway
# benchmark's reference proxy (installed only, never started as a service).
#
#   deploy/dev/services.sh up     install if missing, start, wait, print exports
#   deploy/dev/services.sh down   stop everything this script started
#   deploy/dev/services.sh env    print the exports
#   deploy/dev/services.sh up redis   (any command) only the services named
#
# Use it as: eval "$(deploy/dev/services.sh up)"
# Progress goes to stderr; stdout carries only the export lines.
#
# Adding a service: write <name>_install, <name>_up, <name>_down and
# <name>_env functions and append <name> to SERVICES.
set -euo pipefail

STATE_DIR="${RAGWAY_SERVICES_DIR:-/tmp/ragway-services}"
SERVICES=(redis postgres weaviate nginx)

REDIS_HOST=127.0.0.1
REDIS_PORT="${RAGWAY_REDIS_PORT:-6390}"
WAIT_SECONDS="${RAGWAY_SERVICES_WAIT:-30}"

log() { echo "services: $*" >&2; }

apt_install() {
	# apt_install <command> <package>: installs package only if command is missing.
	local cmd=$1 pkg=$2
	if command -v "$cmd" >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		log "$cmd is missing; run as root or install $pkg"
		exit 1
	fi
	log "installing $pkg"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "$pkg" >&2
}

wait_for() {
	# wait_for <description> <command...>: polls until the command succeeds.
	local what=$1
	shift
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "$what did not become ready within ${WAIT_SECONDS}s"
			return 1
		fi
		sleep 0.2
	done
}

# --- redis -------------------------------------------------------------------

redis_dir() { echo "$STATE_DIR/redis"; }

redis_ping() {
	[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

redis_install() {
	apt_install redis-server redis-server
	apt_install redis-cli redis-tools
}

redis_up() {
	if redis_ping; then
		log "redis already answers on $REDIS_HOST:$REDIS_PORT"
		return 0
	fi
	local dir
	dir=$(redis_dir)
	mkdir -p "$dir"
	redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" \
		--daemonize yes --dir "$dir" \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
		--save "" --appendonly no --protected-mode yes >&2
	wait_for "redis on $REDIS_HOST:$REDIS_PORT" redis_ping
	log "redis ready on $REDIS_HOST:$REDIS_PORT"
}

redis_down() {
	local pidfile
	pidfile="$(redis_dir)/redis.pid"
	if redis_ping; then
		redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
	fi
	if [ -f "$pidfile" ]; then
		local pid
		pid=$(cat "$pidfile")
		local deadline=$((SECONDS + WAIT_SECONDS))
		while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.2
		done
		rm -f "$pidfile"
	fi
	log "redis stopped"
}

redis_env() {
	echo "export RAGWAY_TEST_REDIS_ADDR=$REDIS_HOST:$REDIS_PORT"
}

# --- postgres ----------------------------------------------------------------
# Debian's postgresql-15, run as the postgres user (it refuses root) from a
# cluster under the state dir, TCP on loopback only, trust auth: for tests.

PG_HOST=127.0.0.1
PG_PORT="${RAGWAY_POSTGRES_PORT:-5440}"
PG_BIN=/usr/lib/postgresql/15/bin

postgres_dir() { echo "$STATE_DIR/postgres"; }

pg_as() {
	# pg_as <command...>: runs a server command as the postgres user when root.
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

postgres_ready() {
	"$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -d postgres -U postgres
}

postgres_psql() {
	"$PG_BIN/psql" -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

postgres_install() {
	apt_install "$PG_BIN/postgres" postgresql-15
	pgvector_install
}

PGVECTOR_SO=/usr/lib/postgresql/15/lib/vector.so

pgvector_install() {
	# Debian 12 has no pgvector binary package: build Debian's own source
	# package from the next release against postgresql-server-dev-15.
	if [ -f "$PGVECTOR_SO" ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		log "pgvector is missing; run as root to build it"
		exit 1
	fi
	log "building pgvector from the Debian source package"
	export DEBIAN_FRONTEND=noninteractive
	cat >/etc/apt/sources.list.d/ragway-trixie-src.sources <<-'SOURCES'
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: trixie
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	SOURCES
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql-server-dev-15 build-essential dpkg-dev >&2
	local build
	mkdir -p "$STATE_DIR"
	build=$(mktemp -d "$STATE_DIR/pgvector-build.XXXXXX")
	(
		cd "$build"
		apt-get source -qq pgvector >&2
		cd pgvector-*/
		make PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >&2
		make PG_CONFIG="$PG_BIN/pg_config" install >&2
	)
	rm -rf "$build"
	log "pgvector installed"
}

postgres_bootstrap() {
	# Creates the ragway role and database unless they exist.
	if [ "$(postgres_psql -c "SELECT 1 FROM pg_roles WHERE rolname = 'ragway'")" != 1 ]; then
		postgres_psql -c "CREATE ROLE ragway LOGIN" >&2
	fi
	if [ "$(postgres_psql -c "SELECT 1 FROM pg_database WHERE datname = 'ragway'")" != 1 ]; then
		postgres_psql -c "CREATE DATABASE ragway OWNER ragway" >&2
	fi
	# The vector extension needs a superuser to create.
	"$PG_BIN/psql" -h "$PG_HOST" -p "$PG_PORT" -U postgres -d ragway -v ON_ERROR_STOP=1 -qtA \
		-c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS vector" >&2
}

postgres_up() {
	if postgres_ready; then
		log "postgres already answers on $PG_HOST:$PG_PORT"
		postgres_bootstrap
		return 0
	fi
	local dir
	dir=$(postgres_dir)
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$dir"
	fi
	chmod 700 "$dir"
	if [ ! -s "$dir/data/PG_VERSION" ]; then
		log "creating postgres cluster in $dir/data"
		pg_as "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
	fi
	pg_as "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -W \
		-o "-c listen_addresses=$PG_HOST -p $PG_PORT -c unix_socket_directories=''" start >&2
	wait_for "postgres on $PG_HOST:$PG_PORT" postgres_ready
	postgres_bootstrap
	log "postgres ready on $PG_HOST:$PG_PORT"
}

postgres_down() {
	local data
	data="$(postgres_dir)/data"
	if [ -f "$data/postmaster.pid" ]; then
		pg_as "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t "$WAIT_SECONDS" stop >&2 || true
	fi
	log "postgres stopped"
}

postgres_env() {
	echo "export RAGWAY_TEST_POSTGRES_DSN='postgres://ragway@$PG_HOST:$PG_PORT/ragway?sslmode=disable'"
}

# --- weaviate ----------------------------------------------------------------
# weaviate-server built from source with go install (no container), one node,
# anonymous access, no vectorizer modules, data under the state dir. HTTP
# binds to loopback; Weaviate's gRPC listener takes no address and binds to
# every interface on its port.

WEAVIATE_VERSION="${RAGWAY_WEAVIATE_VERSION:-v1.35.2}"
WEAVIATE_HOST=127.0.0.1
WEAVIATE_PORT="${RAGWAY_WEAVIATE_PORT:-8091}"
WEAVIATE_GRPC_PORT="${RAGWAY_WEAVIATE_GRPC_PORT:-50091}"
# Cluster ports, kept off Weaviate's defaults (7946, 7947, 8300, 8301).
WEAVIATE_GOSSIP_PORT="${RAGWAY_WEAVIATE_GOSSIP_PORT:-7991}"
WEAVIATE_DATA_PORT="${RAGWAY_WEAVIATE_DATA_PORT:-7992}"
WEAVIATE_RAFT_PORT="${RAGWAY_WEAVIATE_RAFT_PORT:-8390}"
WEAVIATE_RAFT_RPC_PORT="${RAGWAY_WEAVIATE_RAFT_RPC_PORT:-8391}"
# A cold build takes minutes; the server needs more than WAIT_SECONDS to
# load a large data dir.
WEAVIATE_WAIT_SECONDS="${RAGWAY_WEAVIATE_WAIT:-120}"

weaviate_dir() { echo "$STATE_DIR/weaviate"; }

weaviate_bin() {
	# Prints the weaviate-server binary: GOPATH/bin first, then PATH.
	local gobin
	gobin="$(go env GOBIN 2>/dev/null || true)"
	if [ -z "$gobin" ]; then
		gobin="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
	fi
	if [ -x "$gobin/weaviate-server" ]; then
		echo "$gobin/weaviate-server"
	elif command -v weaviate-server >/dev/null 2>&1; then
		command -v weaviate-server
	else
		return 1
	fi
}

weaviate_ready() {
	curl -fsS -o /dev/null "http://$WEAVIATE_HOST:$WEAVIATE_PORT/v1/.well-known/ready" 2>/dev/null
}

weaviate_install() {
	apt_install curl curl
	if weaviate_bin >/dev/null; then
		return 0
	fi
	if ! command -v go >/dev/null 2>&1; then
		log "weaviate-server is missing and go is not installed"
		exit 1
	fi
	log "building weaviate-server $WEAVIATE_VERSION with go install (several minutes cold)"
	go install -v "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION" >&2
	log "weaviate-server installed"
}

weaviate_up() {
	if weaviate_ready; then
		log "weaviate already answers on $WEAVIATE_HOST:$WEAVIATE_PORT"
		return 0
	fi
	local dir bin
	dir=$(weaviate_dir)
	bin=$(weaviate_bin)
	mkdir -p "$dir/data"
	(
		cd "$dir"
		export AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true
		export DEFAULT_VECTORIZER_MODULE=none
		export ENABLE_MODULES=
		export PERSISTENCE_DATA_PATH="$dir/data"
		export CLUSTER_HOSTNAME=node1
		export CLUSTER_ADVERTISE_ADDR=127.0.0.1
		export CLUSTER_BIND_ADDR=127.0.0.1
		export CLUSTER_GOSSIP_BIND_PORT="$WEAVIATE_GOSSIP_PORT"
		export CLUSTER_DATA_BIND_PORT="$WEAVIATE_DATA_PORT"
		export RAFT_PORT="$WEAVIATE_RAFT_PORT"
		export RAFT_INTERNAL_RPC_PORT="$WEAVIATE_RAFT_RPC_PORT"
		export RAFT_JOIN="node1:$WEAVIATE_RAFT_PORT"
		export RAFT_BOOTSTRAP_EXPECT=1
		export GRPC_PORT="$WEAVIATE_GRPC_PORT"
		export DISABLE_TELEMETRY=true
		export GO_PROFILING_DISABLE=true
		export ASYNC_INDEXING=false
		export LOG_LEVEL="${RAGWAY_WEAVIATE_LOG_LEVEL:-warning}"
		nohup "$bin" --host "$WEAVIATE_HOST" --port "$WEAVIATE_PORT" --scheme http \
			>>"$dir/weaviate.log" 2>&1 </dev/null &
		echo $! >"$dir/weaviate.pid"
	)
	local saved=$WAIT_SECONDS
	WAIT_SECONDS=$WEAVIATE_WAIT_SECONDS
	if ! wait_for "weaviate on $WEAVIATE_HOST:$WEAVIATE_PORT" weaviate_ready; then
		WAIT_SECONDS=$saved
		log "see $dir/weaviate.log"
		return 1
	fi
	WAIT_SECONDS=$saved
	log "weaviate ready on $WEAVIATE_HOST:$WEAVIATE_PORT (gRPC $WEAVIATE_GRPC_PORT)"
}

weaviate_down() {
	local pidfile
	pidfile="$(weaviate_dir)/weaviate.pid"
	if [ -f "$pidfile" ]; then
		local pid
		pid=$(cat "$pidfile")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			local deadline=$((SECONDS + WAIT_SECONDS))
			while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
				sleep 0.2
			done
			if kill -0 "$pid" 2>/dev/null; then
				log "weaviate did not stop within ${WAIT_SECONDS}s; killing it"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
		rm -f "$pidfile"
	fi
	log "weaviate stopped"
}

weaviate_env() {
	echo "export RAGWAY_TEST_WEAVIATE_URL=http://$WEAVIATE_HOST:$WEAVIATE_PORT"
	echo "export RAGWAY_TEST_WEAVIATE_GRPC=$WEAVIATE_HOST:$WEAVIATE_GRPC_PORT"
}

# --- nginx -------------------------------------------------------------------
# nginx-light, the bench's reference proxy. It is only installed, never run
# as a service: the bench and its tests start their own nginx from a config
# in a temp dir, on a free loopback port.

NGINX_FALLBACK=/usr/sbin/nginx

nginx_bin() {
	# Prints the nginx binary: PATH first, then /usr/sbin (outside a
	# user's PATH).
	if command -v nginx 2>/dev/null; then
		return 0
	fi
	[ -x "$NGINX_FALLBACK" ] && echo "$NGINX_FALLBACK"
}

nginx_install() {
	if nginx_bin >/dev/null; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		log "nginx is missing; run as root or install nginx-light"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	local pkg=nginx-light
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		pkg=nginx # releases after Debian 12 ship one nginx package
	fi
	log "installing $pkg (not started as a service)"
	# A policy-rc.d that exits 101 forbids service starts during the
	# install, so the package does not start nginx on port 80 (and does not
	# fail when that port is taken). Keep one the machine already has.
	local policy=/usr/sbin/policy-rc.d added=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	local rc=0
	apt-get install -y -qq --no-install-recommends "$pkg" >&2 || rc=$?
	if [ -n "$added" ]; then
		rm -f "$policy"
		trap - EXIT
	fi
	if [ "$rc" -ne 0 ]; then
		log "installing $pkg failed"
		exit "$rc"
	fi
	nginx_stop_system
}

nginx_stop_system() {
	# Stops and disables the system nginx the package may have started or
	# enabled, with systemd when it runs, else through its init script and
	# pid file.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now nginx >/dev/null 2>&1 || true
		return 0
	fi
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d nginx disable >/dev/null 2>&1 || true
	fi
	if [ -f /run/nginx.pid ]; then
		"$(nginx_bin)" -s quit >/dev/null 2>&1 || true
	fi
}

nginx_up() {
	log "nginx installed at $(nginx_bin) (not run as a service; the tests start their own)"
}

nginx_down() {
	:
}

nginx_env() {
	if nginx_bin >/dev/null; then
		echo "export RAGWAY_TEST_NGINX=1"
	fi
}

# --- main --------------------------------------------------------------------

each() {
	local step=$1 svc
	for svc in "${SERVICES[@]}"; do
		"${svc}_${step}"
	done
}

# Optional service names after the command select a subset:
# deploy/dev/services.sh up redis
if [ $# -gt 1 ]; then
	for svc in "${@:2}"; do
		if ! declare -F "${svc}_up" >/dev/null; then
			echo "unknown service $svc (known: ${SERVICES[*]})" >&2
			exit 2
		fi
	done
	SERVICES=("${@:2}")
fi

case "${1:-}" in
up)
	mkdir -p "$STATE_DIR"
	each install
	each up
	each env
	;;
down)
	each down
	;;
env)
	each env
	;;
*)
	echo "usage: $0 up|down|env [service...]" >&2
	exit 2
	;;
esac
