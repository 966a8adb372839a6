#!/usr/bin/env bash
# tls_certs.sh <dir>: the certificates the TLS tests use, made with the openssl tool (EC P-256,
# valid 2 days) in <dir>: ca.pem/ca.key (a CA), server.pem/server.key (signed by it, for the
# address 127.0.0.1 only: no name), client.pem/client.key and client-both.pem (a client
# certificate signed by it; the last file holds certificate and key), other.pem (a CA that signed
# nothing here). Quiet unless it fails (then openssl's output, and exit 1).
set -uo pipefail
cd "${1:?usage: tls_certs.sh <dir>}" || exit 1
key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
signed() { # signed <name> <subject> [extension file]: <name>.pem/<name>.key signed by the CA
    openssl req -new "${key[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" &&
        openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            ${3:+-extfile "$3"} -out "$1.pem"
}
{
    openssl req -x509 "${key[@]}" -days 2 -keyout ca.key -out ca.pem -subj /CN=it-ca &&
        openssl req -x509 "${key[@]}" -days 2 -keyout other.key -out other.pem -subj /CN=other-ca &&
        printf 'subjectAltName=IP:127.0.0.1\n' >server.ext &&
        signed server /CN=it-redis server.ext &&
        signed client /CN=it-client &&
        cat client.pem client.key >client-both.pem
} >openssl.log 2>&1 || { cat openssl.log >&2; exit 1; }
