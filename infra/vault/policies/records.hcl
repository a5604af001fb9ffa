# episante-records: the records-pii transit key (envelope encryption of patient PII: data keys,
# encrypt/decrypt, rotation, rewrap) and read access to its own secrets (blind-index HMAC key
# at secret/episante/records/blind-index-key). It cannot create, export, configure or delete keys.
path "transit/datakey/plaintext/records-pii" {
  capabilities = ["update"]
}
path "transit/datakey/wrapped/records-pii" {
  capabilities = ["update"]
}
path "transit/encrypt/records-pii" {
  capabilities = ["update"]
}
path "transit/decrypt/records-pii" {
  capabilities = ["update"]
}
path "transit/rewrap/records-pii" {
  capabilities = ["update"]
}
# Key metadata (versions, min_decryption_version): no key material.
path "transit/keys/records-pii" {
  capabilities = ["read"]
}
# Admin-triggered rotation (POST /v1/records/keys/rotate adds a key version, then rewraps). Adding
# a version loses nothing: it cannot delete, export, trim or reconfigure the key.
path "transit/keys/records-pii/rotate" {
  capabilities = ["update"]
}
path "secret/data/episante/records/*" {
  capabilities = ["read"]
}
# The audit checkpoint (chain length and head, kept outside the records database): written with
# check-and-set, never deleted (no delete/destroy: old versions stay in Vault's history).
path "secret/data/episante/records/audit-checkpoint" {
  capabilities = ["create", "update", "read"]
}
path "secret/metadata/episante/records/audit-checkpoint" {
  capabilities = ["read"]
}
