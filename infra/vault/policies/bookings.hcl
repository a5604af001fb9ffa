# episante-bookings: read its own secrets only.
path "secret/data/episante/bookings/*" {
  capabilities = ["read"]
}
