# episante-records: the records-pii transit key (envelope encryption of patient PII: data keys,
# encrypt/decrypt, rewrap after rotation) and read access to its own secrets (blind-index HMAC key
# at secret/episante/records/blind-index-key). It cannot create, rotate, export or delete keys.
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
path "secret/data/episante/records/*" {
  capabilities = ["read"]
}
