//! Several broker instances share one device CA through Vault, so that a load balancer may send a
//! device to any of them. On a fresh Vault the instances race to create it: exactly one CA must
//! come out, whichever instance wins.

use episante_broker::device_ca::DeviceCa;
use episante_kit::config::VaultConfig;
use episante_kit::Secret;
use episante_testkit::TestVault;

#[tokio::test]
async fn brokers_starting_together_on_a_fresh_vault_share_one_device_ca() {
    let vault = TestVault::start().await.expect("OpenBao");
    let config = VaultConfig {
        addr: Some(vault.addr.clone()),
        token: Some(Secret::new(vault.token.clone())),
    };
    // Several rounds: each is a race of four instances on a path that does not exist yet.
    for round in 0..3 {
        let path = format!("{}-{round}", episante_broker::device_ca::VAULT_PATH);
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let tasks: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let client = episante_kit::vault::client(&config).unwrap().unwrap();
                let (path, dir) = (path.clone(), dir.path().to_path_buf());
                tokio::spawn(async move { DeviceCa::open_in_vault_at(&client, &path, &dir).await })
            })
            .collect();
        let mut cas = Vec::new();
        for task in tasks {
            cas.push(task.await.unwrap().unwrap());
        }
        for ca in &cas[1..] {
            assert_eq!(
                ca.ca_pem(),
                cas[0].ca_pem(),
                "round {round}: one CA for all"
            );
        }
        // A device certificate from one instance is signed by the key every instance holds:
        // the others issue under the same CA certificate.
        for (ca, dir) in cas.iter().zip(&dirs) {
            assert_eq!(
                std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
                cas[0].ca_pem()
            );
            let issued = ca.issue_device("hub1").unwrap();
            let (_, cert) = x509_parser::pem::parse_x509_pem(issued.cert_pem.as_bytes()).unwrap();
            let cert = cert.parse_x509().unwrap();
            let (_, ca_cert) =
                x509_parser::pem::parse_x509_pem(cas[0].ca_pem().as_bytes()).unwrap();
            let ca_cert = ca_cert.parse_x509().unwrap();
            cert.verify_signature(Some(ca_cert.public_key()))
                .expect("signed by the shared CA key");
        }
    }
}
