//! `episante-alerts`: runs the alerts service alone (`episante up` runs it with the others).
//! Start several with the same `[alerts] consumer_group` to share the partitions.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    episante_kit::service::main::<episante_alerts::AlertsService>().await
}
