//! [`open`]: the store a configuration asks for — memory, file or Redis — wrapped in a
//! [`SealedStore`] whose keys are checked before the proxy starts.

use super::{FileStore, MemoryStore, RedisStore, SealedStore, Sealer, Store};
use crate::proxy::config::{ProxyConfig, StorageSpec};
use foundations::Clock;
use std::sync::Arc;

/// Build the store `spec` names (usually `config.storage`), sealed with the keys `config`
/// gives (see [`super::seal`]). Fails with a message naming the storage (password masked) when
/// it cannot be opened or reached, when another process holds the file, or when no configured
/// key opens what persistent storage holds.
pub async fn open(
    spec: &StorageSpec,
    config: &ProxyConfig,
    clock: Clock,
) -> anyhow::Result<Arc<dyn Store>> {
    let (inner, persistent): (Arc<dyn Store>, bool) = match spec {
        StorageSpec::Memory => (Arc::new(MemoryStore::new(clock)), false),
        StorageSpec::File(path) => {
            let store = FileStore::open_async(path.clone(), clock).await?;
            (Arc::new(store), true)
        }
        StorageSpec::Redis(url) => {
            let store = RedisStore::connect(url, clock)
                .await
                .map_err(|e| anyhow::anyhow!("storage {spec}: {e}"))?;
            (Arc::new(store), true)
        }
    };
    let sealer = Sealer::from_config(config, persistent)?;
    let sealed = SealedStore::open(inner, sealer, &spec.to_string()).await?;
    Ok(Arc::new(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::Secret;
    use crate::proxy::store::Collection;
    use std::time::Duration;

    #[tokio::test]
    async fn memory_is_sealed_and_works() {
        let c = ProxyConfig {
            jwt_signing_key: Some(Secret::new("jwt-key-0123456789abcdef")),
            ..ProxyConfig::default()
        };
        let s = open(&StorageSpec::Memory, &c, Clock::frozen_at(0))
            .await
            .unwrap();
        s.put(
            Collection::Grants,
            "g",
            b"x".to_vec(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(
            s.get(Collection::Grants, "g").await.unwrap(),
            Some(b"x".to_vec())
        );
    }

    #[tokio::test]
    async fn file_needs_a_key_and_a_directory() {
        let c = ProxyConfig::default();
        let dir = std::env::temp_dir().join(format!(
            "authproof-open-{}-{}",
            std::process::id(),
            crate::oauth::random_token(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = StorageSpec::File(dir.join("s.redb"));
        let e = open(&spec, &c, Clock::frozen_at(0))
            .await
            .err()
            .expect("no key material")
            .to_string();
        assert!(e.contains("storage_key"), "{e}");
        let missing = StorageSpec::File(dir.join("no/such/dir/s.redb"));
        let mut c = c;
        c.storage_key = Some(Secret::new("storage-key-0123456789abcdef0123456789"));
        let e = open(&missing, &c, Clock::frozen_at(0))
            .await
            .err()
            .expect("missing directory")
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
