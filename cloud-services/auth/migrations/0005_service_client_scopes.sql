-- What each service client may do (episante_kit::Scope names, validated by the API). Existing
-- clients get none: least privilege, an admin grants what each one needs.
ALTER TABLE service_clients ADD COLUMN scopes TEXT[] NOT NULL DEFAULT '{}';
-- The records service's own client (provisioned by `episante up` / infra/vault/service-clients.sh)
-- keeps exactly what it uses: device lookups in the registry and vitals for FHIR Observations.
UPDATE service_clients SET scopes = '{devices:read,vitals:read}' WHERE client_id = 'records';
