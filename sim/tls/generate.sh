#!/bin/sh
# Regenerates the simulator's fixed TLS identity (see sim/src/tls.rs): a CA and a server
# certificate for 127.0.0.1 / localhost signed by it, both valid for 100 years. The keys are
# test equipment, published on purpose: the simulator listens on loopback only.
set -eu
cd "$(dirname "$0")"
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 36500 -subj "/CN=rollout-rs-sim-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt
openssl ecparam -name prime256v1 -genkey -noout -out server.key.ec
openssl pkcs8 -topk8 -nocrypt -in server.key.ec -out server.key
rm server.key.ec
openssl req -new -key server.key -subj "/CN=kube-apiserver" -out server.csr
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" \
  "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc" \
  > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 36500 \
  -extfile server.ext -out server.crt
rm -f server.csr server.ext ca.srl ca.key
