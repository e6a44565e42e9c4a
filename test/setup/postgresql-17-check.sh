#!/usr/bin/env bash
# Smoke check of the PostgreSQL 17 tree that test/setup/postgresql-17.sh installs, as root (it runs
# PostgreSQL as the postgres user): 17 alone (initdb, pg_ctl, psql, ICU, JIT); a 17 replica made by
# pg_basebackup -R, streaming; pg_rewind of the old primary after a promotion; pg_upgrade of a
# PostgreSQL 15 data directory (the host's /usr/lib/postgresql/15) in --copy and --link mode, then
# 17 started on it with the rows there. Everything listens on 127.0.0.1 or a socket in its scratch
# directory, on ports 55415..55418, and is stopped and removed at the end.
set -euo pipefail
B17=/opt/postgresql-17/bin
B15=/usr/lib/postgresql/15/bin
[ "$(id -u)" = 0 ] || { echo "run as root (PostgreSQL runs as the postgres user)" >&2; exit 1; }
[ -x "$B17/postgres" ] || { echo "no $B17/postgres: run test/setup/postgresql-17.sh first" >&2; exit 1; }
[ -x "$B15/postgres" ] || { echo "no $B15/postgres (Debian's postgresql-15)" >&2; exit 1; }
id postgres >/dev/null

DIR=$(mktemp -d /tmp/pg17-check.XXXXXX)
chown postgres:postgres "$DIR"
cleanup() {
  local d
  for d in "$DIR"/*/; do
    if [ -f "$d/postmaster.pid" ]; then
      su postgres -s /bin/sh -c "$B17/pg_ctl -D '$d' -m immediate -w stop >/dev/null 2>&1 || $B15/pg_ctl -D '$d' -m immediate -w stop >/dev/null 2>&1" || true
    fi
  done
  rm -rf "$DIR"
}
trap cleanup EXIT

su postgres -s /bin/bash -c "B17=$B17 B15=$B15 DIR=$DIR bash -s" <<'EOF'
set -euo pipefail
cd "$DIR"
ok() { echo "ok: $*"; }
q() { "$B17/psql" -X -h "$DIR" -U postgres -v ON_ERROR_STOP=1 -Atq "$@"; }
init17() { "$B17/initdb" -D "$1" -U postgres --auth=trust --locale=C.UTF-8 --encoding=UTF8 >"$1.initdb.log"; }
conf() { printf "port=%s\nunix_socket_directories='%s'\nlisten_addresses='127.0.0.1'\nwal_log_hints=on\nwal_keep_size='128MB'\n" "$2" "$DIR" >>"$1/postgresql.conf"; }
start() { "$1/pg_ctl" -D "$2" -l "$2.log" -w start >/dev/null; }
stop() { "$1/pg_ctl" -D "$2" -m fast -w stop >/dev/null; }

# 1. 17 alone
init17 p17; conf p17 55417; start "$B17" p17
v=$(q -p 55417 -c 'select version()'); echo "$v"; [[ $v == "PostgreSQL 17."* ]]
[ "$(q -p 55417 -c "select string_agg(x, ',' order by x collate \"und-x-icu\") from (values ('b'), ('A'), ('a')) v(x)")" = "a,A,b" ]
q -p 55417 -c 'set jit_above_cost = 0' -c 'explain (analyze) select sum(g) from generate_series(1, 1000) g' | grep -q '^JIT:'
ok "initdb, pg_ctl start, psql, ICU collation and JIT on 17"

# 2. a 17 replica made by 17's pg_basebackup -R, streaming
"$B17/pg_basebackup" -h 127.0.0.1 -p 55417 -U postgres -D r17 -R -X stream -c fast
sed -i 's/^port=55417$/port=55418/' r17/postgresql.conf; start "$B17" r17
q -p 55417 -c 'create table rep(i int)' -c 'insert into rep select generate_series(1, 1000)'
for _ in $(seq 50); do [ "$(q -p 55418 -c 'select count(*) from rep' 2>/dev/null)" = 1000 ] && break; sleep 0.2; done
echo "primary: $(q -p 55417 -c "select state from pg_stat_replication")," \
  "replica: $(q -p 55418 -c "select pg_is_in_recovery(), (select status from pg_stat_wal_receiver), (select count(*) from rep)")"
[ "$(q -p 55418 -c "select pg_is_in_recovery() and (select status from pg_stat_wal_receiver) = 'streaming' and (select count(*) from rep) = 1000")" = t ]
ok "pg_basebackup -R replica streaming"

# pg_rewind: promote the replica, let the old primary diverge, rewind it and make it follow.
"$B17/pg_ctl" -D r17 -w promote >/dev/null
q -p 55418 -c 'insert into rep values (-1)'
q -p 55417 -c 'insert into rep select generate_series(1, 500)'
stop "$B17" p17
"$B17/pg_rewind" -D p17 --source-server="host=127.0.0.1 port=55418 user=postgres" -R
sed -i 's/^port=55418$/port=55417/' p17/postgresql.conf   # pg_rewind copied the source's postgresql.conf
start "$B17" p17
for _ in $(seq 50); do [ "$(q -p 55417 -c 'select count(*) from rep' 2>/dev/null)" = 1001 ] && break; sleep 0.2; done
[ "$(q -p 55417 -c "select pg_is_in_recovery() and count(*) = 1001 and min(i) = -1 from rep")" = t ]
ok "pg_rewind of the old primary, which then follows the promoted replica"
stop "$B17" p17; stop "$B17" r17

# 3. pg_upgrade 15 -> 17, copy and link
for mode in copy link; do
  "$B15/initdb" -D o15-$mode -U postgres --auth=trust --locale=C.UTF-8 --encoding=UTF8 >/dev/null
  printf "port=55415\nunix_socket_directories='%s'\nlisten_addresses=''\n" "$DIR" >>o15-$mode/postgresql.conf
  start "$B15" o15-$mode
  "$B15/psql" -X -h "$DIR" -p 55415 -U postgres -v ON_ERROR_STOP=1 -q \
    -c 'create database app' \
    -c '\c app' \
    -c "create table items(id serial primary key, name text not null)" \
    -c "insert into items(name) select 'item-' || g from generate_series(1, 5000) g" \
    -c 'create index on items(name)'
  stop "$B15" o15-$mode
  init17 n17-$mode
  mkdir up-$mode
  (cd up-$mode && "$B17/pg_upgrade" -b "$B15" -B "$B17" -d ../o15-$mode -D ../n17-$mode -U postgres \
    -p 55415 -P 55416 -s "$DIR" --$mode >../up-$mode.log) || { tail -20 up-$mode.log; exit 1; }
  printf "port=55416\nunix_socket_directories='%s'\nlisten_addresses=''\n" "$DIR" >>n17-$mode/postgresql.conf
  start "$B17" n17-$mode
  rows=$(q -p 55416 -d app -c "select count(*) || ' rows, sum ' || sum(id) from items where name like 'item-%'")
  f=$(q -p 55416 -d app -c "select pg_relation_filepath('items')")
  echo "$mode: $(q -p 55416 -c 'show server_version'), $rows, items' file has $(stat -c %h n17-$mode/$f) link(s)"
  [ "$rows" = "5000 rows, sum 12502500" ]
  [ "$(stat -c %h n17-$mode/$f)" = "$([ $mode = link ] && echo 2 || echo 1)" ]
  stop "$B17" n17-$mode
  ok "pg_upgrade --$mode of a 15 data directory; 17 starts on it with the rows"
done
EOF
echo "postgresql-17-check: 5 passed, 0 failed"
