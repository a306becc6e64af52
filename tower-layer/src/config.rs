//! The layer from the `[token]` section of attestgate's TOML file (feature
//! `config`), so the proxy and a service can share one file.

use attestgate_config::{Problem, TokenConfig};

use crate::AttestLayer;

impl AttestLayer {
    /// Builds the verifier from a `[token]` section (keys loaded now, mode
    /// taken from `mode`) and a layer around it.
    ///
    /// The layer starts no task. When the section has a JWKS `url` (or key
    /// files to watch), start the refresher from inside your tokio runtime
    /// and keep its handle: `let _refresher =
    /// layer.verifier().spawn_refresher();` (see the crate docs, "Keys:
    /// refresh").
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let secret = attestgate::mint::new_secret_base64()?;
    /// # let dir = std::env::temp_dir().join(format!("attestgate-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("attestgate.toml");
    /// # std::fs::write(&path, format!("[token]\nmode = \"monitor\"\n[[token.secret]]\nbase64 = {{ value = \"{secret}\" }}\n"))?;
    /// let config = attestgate_config::Config::load(&path)?;
    /// let token = config.token.as_ref().ok_or("no [token] section")?;
    /// let layer = attestgate_tower::AttestLayer::from_token_config(token)
    ///     .map_err(|problems| format!("{problems:?}"))?;
    /// # let _ = layer;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(()) }
    /// ```
    pub fn from_token_config(token: &TokenConfig) -> Result<AttestLayer, Vec<Problem>> {
        Ok(AttestLayer::new(token.build_verifier()?))
    }
}
