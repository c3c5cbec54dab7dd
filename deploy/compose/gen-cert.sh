#!/usr/bin/env sh
# Makes a self-signed TLS certificate for nginx in ./certs (never committed: see .gitignore).
# For production use a real certificate (e.g. from your ACME client) at the same paths.
set -eu
cd "$(dirname "$0")"
host="${1:-localhost}"
mkdir -p certs
umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes \
  -keyout certs/polyroute.key -out certs/polyroute.crt \
  -subj "/CN=${host}" -addext "subjectAltName=DNS:${host},IP:127.0.0.1"
chmod 644 certs/polyroute.crt
echo "wrote certs/polyroute.crt and certs/polyroute.key for ${host}"
