//! The device certificate authority.
//!
//! Devices prove who they are with a client certificate whose Organization is their device id and
//! whose serial the registry keeps (`device_auth` checks both against the CONNECT); the MQTT
//! session then confines the connection to topics under `/tenants/{id}/` (`mqtt::session`).
//! The CA key lives in Vault when the broker has one (`secret/episante/broker/device-ca`, created
//! once, check-and-set, by whichever instance starts first), so every broker instance behind the
//! load balancer accepts every device; without Vault it lives in the data dir (0600). Each
//! instance issues its own server certificate from it at every start.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Datelike, Days, Utc};
use episante_kit::private_file::write_private_file;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate's serial number, hex (the registry keeps the current one per device).
    pub serial_hex: String,
}

pub struct DeviceCa {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_path: PathBuf,
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "EpiSante device CA");
    dn.push(DnType::OrganizationName, "EpiSante");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// 127 random bits; the first byte is never 0 (DER would drop it) nor ≥ 0x80 (negative).
fn random_serial() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    bytes
}

/// The CA as Vault keeps it (KV v2, `secret/episante/broker/device-ca`).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCa {
    cert_pem: String,
    key_pem: String,
}

/// Where in Vault's KV v2 (`secret` mount) the shared device CA lives.
pub const VAULT_PATH: &str = "episante/broker/device-ca";

impl DeviceCa {
    /// Loads the CA from `dir`, creating it on first start.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let key_path = dir.join("ca.key.pem");
        let ca_path = dir.join("ca.pem");
        let (key, ca_pem) = if key_path.exists() && ca_path.exists() {
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)
                .context("device CA key is not a valid PEM key")?;
            (key, std::fs::read_to_string(&ca_path)?)
        } else {
            let (key, cert_pem) = Self::generate()?;
            write_private_file(&key_path, key.serialize_pem().as_bytes())
                .with_context(|| format!("writing {}", key_path.display()))?;
            write_private_file(&ca_path, cert_pem.as_bytes())?;
            tracing::warn!(dir = %dir.display(), "created a new device CA (key kept in a 0600 file)");
            (key, cert_pem)
        };
        Ok(DeviceCa {
            issuer: Issuer::new(ca_params(), key),
            ca_pem,
            ca_path,
        })
    }

    /// Loads the CA shared by every broker instance from Vault, creating it there if no instance
    /// has yet. Only the certificate is written to `dir` (`ca.pem`, what the TLS acceptor reads);
    /// the key stays in memory.
    pub async fn open_in_vault(
        client: &vaultrs::client::VaultClient,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::open_in_vault_at(client, VAULT_PATH, dir).await
    }

    /// [`DeviceCa::open_in_vault`] at another KV path (tests).
    pub async fn open_in_vault_at(
        client: &vaultrs::client::VaultClient,
        path: &str,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut created = false;
        let stored = episante_kit::vault::read_or_create(client, "secret", path, || {
            created = true;
            let (key, cert_pem) = Self::generate().expect("generating a key pair");
            StoredCa {
                cert_pem,
                key_pem: key.serialize_pem(),
            }
        })
        .await?;
        if created {
            tracing::warn!(path, "created the shared device CA in Vault");
        }
        let key = KeyPair::from_pem(&stored.key_pem)
            .context("the device CA key in Vault is not a valid PEM key")?;
        let ca_path = dir.join("ca.pem");
        write_private_file(&ca_path, stored.cert_pem.as_bytes())
            .with_context(|| format!("writing {}", ca_path.display()))?;
        Ok(DeviceCa {
            issuer: Issuer::new(ca_params(), key),
            ca_pem: stored.cert_pem,
            ca_path,
        })
    }

    fn generate() -> anyhow::Result<(KeyPair, String)> {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        Ok((key, cert.pem()))
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    fn leaf(&self, mut params: CertificateParams, years: i32) -> anyhow::Result<IssuedCert> {
        let today = Utc::now().date_naive();
        let start = today - Days::new(1);
        let end = today.with_year(today.year() + years).unwrap_or(today);
        params.not_before =
            rcgen::date_time_ymd(start.year(), start.month() as u8, start.day() as u8);
        params.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial_hex: hex::encode(serial),
        })
    }

    /// A client certificate for `device_id` (CN and O = device id), valid one year.
    pub fn issue_device(&self, device_id: &str) -> anyhow::Result<IssuedCert> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, device_id);
        dn.push(DnType::OrganizationName, device_id);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(params, 1)
    }

    /// The broker's TLS server certificate for `hostnames` (DNS names or IP addresses).
    pub fn issue_server(&self, hostnames: &[String]) -> anyhow::Result<IssuedCert> {
        let mut params = CertificateParams::new(hostnames.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "episante-broker");
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(params, 1)
    }
}
