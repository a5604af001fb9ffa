# OpenBao server for docker-compose: integrated (Raft) storage on the `vault-data` volume, plain HTTP on the
# compose network only (not published). For production use TLS on the listener, three Raft nodes and an auto-unseal seal (KMS/HSM/transit) instead of init.sh's stored unseal key.
ui           = true
api_addr     = "http://vault:8200"
cluster_addr = "http://vault:8201"

storage "raft" {
  path    = "/openbao/data"
  node_id = "vault-1"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}
