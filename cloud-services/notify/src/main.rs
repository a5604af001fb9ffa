//! `episante-notify`: runs the notify service alone (`episante up` runs it with the others).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    episante_kit::service::main::<episante_notify::NotifyService>().await
}
