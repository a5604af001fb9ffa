# episante-auth: its own KV v2 subtree only (signing keys at secret/episante/auth/signing-keys).
path "secret/data/episante/auth/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/episante/auth/*" {
  capabilities = ["read", "list"]
}
