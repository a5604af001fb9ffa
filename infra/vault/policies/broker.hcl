# episante-broker: its own KV v2 subtree only (room for the device CA when it moves into Vault).
path "secret/data/episante/broker/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/episante/broker/*" {
  capabilities = ["read", "list"]
}
