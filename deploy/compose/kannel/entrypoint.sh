#!/bin/sh
# Render deploy/kannel/kannel.conf.template (mounted at /etc/kannel/kannel.conf.template) from the
# environment, then run one part: bearerbox, smsbox or fakesmsc. The three share one network
# namespace (compose: network_mode service:kannel), so the template's 127.0.0.1 limits hold
# between them; only sendsms is opened to the compose network, for notify-worker.
set -eu

conf=${KANNEL_CONF:-/etc/kannel/kannel.conf}
template=${KANNEL_TEMPLATE:-/etc/kannel/kannel.conf.template}
# shellcheck disable=SC2016 # the names envsubst replaces, not expansions
envsubst '$admin_port $admin_password $smsbox_port $sendsms_port $fake_port $replies_port $log_level $log_dir $spool_dir $username $password $mo_url' \
  < "$template" \
  | sed -e '/^sendsms-interface = /d' -e 's/^user-allow-ip = .*/user-allow-ip = "*.*.*.*"/' > "$conf"

case "${1:-bearerbox}" in
  bearerbox) exec /usr/sbin/bearerbox -v 1 "$conf" ;;
  smsbox) exec /usr/sbin/smsbox -v 1 "$conf" ;;
  # The carrier of a local trial: prints every MT it receives (docker compose logs fakesmsc).
  fakesmsc) exec /usr/lib/kannel/test/fakesmsc -H 127.0.0.1 -r "$fake_port" -m 0 ;;
  *) exec "$@" ;;
esac
