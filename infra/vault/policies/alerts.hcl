# episante-alerts: read its own secrets only (webhook signing secret at
# secret/episante/alerts/webhook-secret).
path "secret/data/episante/alerts/*" {
  capabilities = ["read"]
}
