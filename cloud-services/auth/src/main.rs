//! `episante-auth`: runs the auth service alone (`episante up` runs it with the others).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    episante_kit::service::main::<episante_auth::AuthService>().await
}
