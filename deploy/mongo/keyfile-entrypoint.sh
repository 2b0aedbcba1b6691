#!/bin/sh
# Entrypoint of docker-compose.yml's `mongo` service: makes the replica set's
# key file, then hands over to the official image's own entrypoint.
#
# A replica set with users needs a key file (members authenticate to each
# other with it; mongod turns authorization on with it). The one member of
# compose's set needs no other member to share it, so a random one is made on
# first start and kept in the `mongo-keyfile` volume: nothing to put in .env.
#
# Runs as root (the image's user); docker-entrypoint.sh then drops to the
# `mongodb` user, which must own the file and be the only one to read it.
# COALITION_KEY_FILE and COALITION_KEY_OWNER are for the tests
# (tests/unit/test_deploy_files.py).
set -eu

# Refuse a placeholder before the image makes `root` with it: an empty volume
# takes the root password once, and a later change in .env would not reach it.
password="${MONGO_INITDB_ROOT_PASSWORD:-}"
case "$password" in
    *CHANGE_ME*) password="" ;;
esac
if [ "${#password}" -lt 32 ]; then
    echo "mongo: invalid setting MONGO_ROOT_PASSWORD: it must be a random password of at" \
         "least 32 URL-safe characters (python3 -c 'import secrets;" \
         "print(secrets.token_urlsafe(48))')" >&2
    exit 2
fi

key="${COALITION_KEY_FILE:-/data/configdb/coalition.key}"
if [ ! -s "$key" ]; then
    umask 077
    # 756 random bytes are 1008 base64 characters: mongod takes 6 to 1024
    head -c 756 /dev/urandom | base64 | tr -d '\n' > "$key.new"
    mv "$key.new" "$key"
fi
if [ "$(id -u)" = 0 ]; then
    chown "${COALITION_KEY_OWNER:-mongodb:mongodb}" "$key"
fi
chmod 400 "$key"
exec docker-entrypoint.sh "$@"
