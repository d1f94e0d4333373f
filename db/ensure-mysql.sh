#!/usr/bin/env bash
# Makes sure a MySQL/MariaDB server answers on DB_HOST:DB_PORT (default 127.0.0.1:3306) and that the
# application user exists: starts a local MariaDB, or installs one (Debian, as root) when there is none.
# Safe to run any number of times.
set -euo pipefail

host=${DB_HOST:-127.0.0.1}
port=${DB_PORT:-3306}
app_user=${DB_USER:-backoffice}
app_pass=${DB_PASSWORD:-backoffice}

say() { echo "ensure-mysql: $*" >&2; }

answers() {
  if command -v mysqladmin >/dev/null 2>&1; then
    # "Access denied" still proves a server is there.
    out=$(mysqladmin --connect-timeout=2 -h "$host" -P "$port" -u root ping 2>&1) && return 0
    grep -q "Access denied" <<<"$out"
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

wait_for_server() {
  for _ in $(seq 1 60); do
    answers && return 0
    sleep 1
  done
  return 1
}

local_host() { [[ "$host" == 127.0.0.1 || "$host" == localhost || "$host" == ::1 ]]; }

if ! answers; then
  if ! local_host; then
    say "no MySQL/MariaDB answers at $host:$port; start it or point DB_HOST/DB_PORT at one"
    exit 1
  fi
  if [[ ! -x /usr/sbin/mariadbd && ! -x /usr/sbin/mysqld ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
      say "no MySQL/MariaDB server here; install one (Debian: sudo apt-get install -y mariadb-server) and run again"
      exit 1
    fi
    say "installing mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq mariadb-server mariadb-client >/dev/null
  fi
  if [[ $(id -u) -ne 0 ]]; then
    say "MySQL/MariaDB is installed but not running; start it (sudo service mariadb start) and run again"
    exit 1
  fi
  say "starting MariaDB"
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld 2>/dev/null || true
  server=/usr/sbin/mariadbd
  [[ -x $server ]] || server=/usr/sbin/mysqld
  start-stop-daemon --start --oknodo --background --exec "$server"
  if ! wait_for_server; then
    say "MariaDB did not start within 60 s; see /var/log/mysql/ or journalctl"
    exit 1
  fi
fi

# Connect as an administrator to create the application user: root over TCP with an empty password where
# that is allowed, else root through the unix socket (how a fresh Debian MariaDB lets root in).
admin=()
if mysql --connect-timeout=3 -h "$host" -P "$port" -u root -e 'SELECT 1' >/dev/null 2>&1; then
  admin=(mysql -h "$host" -P "$port" -u root)
elif local_host && [[ $(id -u) -eq 0 ]] && mysql -u root -e 'SELECT 1' >/dev/null 2>&1; then
  admin=(mysql -u root)
fi

if [[ ${#admin[@]} -eq 0 ]]; then
  if mysql -h "$host" -P "$port" -u "$app_user" -p"$app_pass" -e 'SELECT 1' >/dev/null 2>&1; then
    say "server at $host:$port is up; user $app_user works"
    exit 0
  fi
  say "server at $host:$port is up, but user $app_user cannot log in and root is not reachable to create it."
  say "create it: CREATE USER '$app_user'@'%' IDENTIFIED BY '...'; GRANT ALL ON customers.*, orders.*, reporting.*, \`bo\\_test\\_%\`.*, \`bench\\_%\`.* TO it"
  exit 1
fi

"${admin[@]}" <<SQL
CREATE USER IF NOT EXISTS '$app_user'@'localhost' IDENTIFIED BY '$app_pass';
CREATE USER IF NOT EXISTS '$app_user'@'127.0.0.1' IDENTIFIED BY '$app_pass';
CREATE USER IF NOT EXISTS '$app_user'@'%' IDENTIFIED BY '$app_pass';
GRANT ALL PRIVILEGES ON \`customers\`.* TO '$app_user'@'localhost', '$app_user'@'127.0.0.1', '$app_user'@'%';
GRANT ALL PRIVILEGES ON \`orders\`.* TO '$app_user'@'localhost', '$app_user'@'127.0.0.1', '$app_user'@'%';
GRANT ALL PRIVILEGES ON \`reporting\`.* TO '$app_user'@'localhost', '$app_user'@'127.0.0.1', '$app_user'@'%';
GRANT ALL PRIVILEGES ON \`bo\\_test\\_%\`.* TO '$app_user'@'localhost', '$app_user'@'127.0.0.1', '$app_user'@'%';
GRANT ALL PRIVILEGES ON \`bench\\_%\`.* TO '$app_user'@'localhost', '$app_user'@'127.0.0.1', '$app_user'@'%';
FLUSH PRIVILEGES;
SQL

# The test suite runs packages in parallel, each with its own databases and service connection pools:
# the server's default of 151 connections is too tight for that. Raised for the running server only.
"${admin[@]}" -e "SET GLOBAL max_connections = GREATEST(@@GLOBAL.max_connections, 500)" \
  || say "could not raise max_connections (tests may hit 'Too many connections')"
say "server at $host:$port is up; user $app_user ready"
