#!/bin/sh
# Writes the AMI settings that differ inside the container, then runs the command
# (Asterisk in the foreground). /etc/asterisk/manager.conf includes the repository's
# manager.conf and then this file:
#   - AMI listens on the container's interfaces (the repository's file says 127.0.0.1,
#     which nothing outside the container could reach);
#   - the callpool user's secret comes from AMI_SECRET or the file AMI_SECRET_FILE names
#     (a docker secret), so that it is in neither the image nor the repository;
#   - AMI_PERMIT lists the networks allowed to log in besides 127.0.0.1, e.g. the
#     compose network callpool reaches Asterisk on (space-separated, CIDR).
set -eu

if [ -n "${AMI_SECRET_FILE:-}" ]; then
    AMI_SECRET=$(cat "$AMI_SECRET_FILE")
fi
if [ -z "${AMI_SECRET:-}" ]; then
    echo "asterisk: set AMI_SECRET (or AMI_SECRET_FILE): the secret of the AMI user callpool" >&2
    exit 2
fi
# ';' starts a comment in Asterisk's configuration and the secret is also written into
# callpool's JSON settings: keep to characters safe in both (openssl rand -hex 24 is).
case "$AMI_SECRET" in
    *[!A-Za-z0-9._~+/=-]*)
        echo "asterisk: AMI_SECRET may hold only letters, digits and . _ ~ + / = -" >&2
        exit 2
        ;;
esac
if [ "${#AMI_SECRET}" -lt 16 ]; then
    echo "asterisk: AMI_SECRET is shorter than 16 characters" >&2
    exit 2
fi

conf=/var/run/asterisk/manager-container.conf
umask 077
{
    printf '; written by %s at start-up\n' "$0"
    printf '[general](+)\nbindaddr = 0.0.0.0\n\n[callpool](+)\nsecret = %s\n' "$AMI_SECRET"
    for network in ${AMI_PERMIT:-}; do
        printf 'permit = %s\n' "$network"
    done
} >"$conf"

exec "$@"
