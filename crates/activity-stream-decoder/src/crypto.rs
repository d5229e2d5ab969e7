//! Decryption: the data key through KMS (once per distinct key, cached for the life of the
//! execution environment), then the AWS Encryption SDK message with a raw AES keyring
//! (namespace `BC`, key name `DataKey`) around that data key.
//!
//! RDS writes non-committing messages (`AES_256_GCM_IV12_TAG16_HKDF_SHA256`), so the ESDK
//! client uses `ForbidEncryptAllowDecrypt`, the policy that reads them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_esdk::material_providers::client as mpl_client;
use aws_esdk::material_providers::types::keyring::KeyringRef;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::{AesWrappingAlg, EsdkCommitmentPolicy};
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;
use aws_smithy_types::Blob;

use crate::das::RecordError;

/// The raw AES keyring RDS uses.
pub const KEY_NAMESPACE: &str = "BC";
pub const KEY_NAME: &str = "DataKey";

/// Distinct data keys kept per execution environment. RDS rotates data keys rarely; a
/// Firehose batch usually carries one or two.
pub const KEY_CACHE_SIZE: usize = 64;

/// The ESDK pieces, built once per execution environment.
pub struct Esdk {
    client: aws_esdk::client::Client,
    mpl: mpl_client::Client,
}

impl Esdk {
    pub fn new() -> Result<Self, String> {
        let config = AwsEncryptionSdkConfig::builder()
            .commitment_policy(EsdkCommitmentPolicy::ForbidEncryptAllowDecrypt)
            .build()
            .map_err(|e| format!("ESDK config: {e:?}"))?;
        let client =
            aws_esdk::client::Client::from_conf(config).map_err(|e| format!("ESDK client: {e}"))?;
        let mpl_config = MaterialProvidersConfig::builder()
            .build()
            .map_err(|e| format!("MPL config: {e:?}"))?;
        let mpl =
            mpl_client::Client::from_conf(mpl_config).map_err(|e| format!("MPL client: {e}"))?;
        Ok(Self { client, mpl })
    }

    /// The raw AES keyring around a plaintext data key.
    pub async fn keyring(&self, data_key: &[u8]) -> Result<KeyringRef, RecordError> {
        self.mpl
            .create_raw_aes_keyring()
            .key_namespace(KEY_NAMESPACE)
            .key_name(KEY_NAME)
            .wrapping_key(Blob::new(data_key))
            .wrapping_alg(AesWrappingAlg::AlgAes256GcmIv12Tag16)
            .send()
            .await
            .map_err(|e| RecordError::Esdk(format!("building the keyring: {e}")))
    }

    /// Decrypt one ESDK message.
    pub async fn decrypt(
        &self,
        keyring: &KeyringRef,
        message: &[u8],
    ) -> Result<Vec<u8>, RecordError> {
        let out = self
            .client
            .decrypt()
            .ciphertext(Blob::new(message))
            .keyring(keyring.clone())
            .send()
            .await
            .map_err(|e| RecordError::Esdk(one_line(&e.to_string())))?;
        out.plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| RecordError::Esdk("no plaintext returned".into()))
    }

    /// Encrypt as RDS does (used by the sample generator and tests).
    pub async fn encrypt(
        &self,
        keyring: &KeyringRef,
        plaintext: &[u8],
        frame_length: i64,
    ) -> Result<Vec<u8>, String> {
        use aws_esdk::material_providers::types::EsdkAlgorithmSuiteId;
        let out = self
            .client
            .encrypt()
            .plaintext(Blob::new(plaintext))
            .keyring(keyring.clone())
            .algorithm_suite_id(EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16HkdfSha256)
            .frame_length(frame_length)
            .send()
            .await
            .map_err(|e| format!("ESDK encrypt: {e}"))?;
        out.ciphertext
            .map(Blob::into_inner)
            .ok_or_else(|| "ESDK encrypt returned no ciphertext".into())
    }
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s
    }
}

/// A decrypted DAS data key, ready for both decryption paths.
pub struct CachedKey {
    /// For the SDK (the fallback and the authority).
    pub keyring: KeyringRef,
    /// For the direct reader ([`crate::fastpath`]).
    pub wrapping: crate::fastpath::WrappingKey,
}

/// Data keys by (resource id, data-key blob), bounded, oldest evicted first.
#[derive(Default)]
pub struct KeyCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<(String, String), Arc<CachedKey>>,
    order: VecDeque<(String, String)>,
}

impl KeyCache {
    pub fn get(&self, resource_id: &str, key: &str) -> Option<Arc<CachedKey>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.map
            .get(&(resource_id.to_owned(), key.to_owned()))
            .cloned()
    }

    pub fn insert(&self, resource_id: &str, key: &str, keyring: Arc<CachedKey>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let k = (resource_id.to_owned(), key.to_owned());
        if g.map.insert(k.clone(), keyring).is_none() {
            g.order.push_back(k);
        }
        while g.order.len() > KEY_CACHE_SIZE {
            if let Some(old) = g.order.pop_front() {
                g.map.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// KMS Decrypt of a data key with the DAS encryption context.
pub async fn kms_decrypt_data_key(
    kms: &aws_sdk_kms::Client,
    blob: &[u8],
    resource_id: &str,
) -> Result<Vec<u8>, RecordError> {
    let (k, v) = crate::das::encryption_context(resource_id);
    let out = kms
        .decrypt()
        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(blob))
        .encryption_context(k, v)
        .send()
        .await
        .map_err(|e| RecordError::Kms(opswatch_support::sdk_error(&e)))?;
    out.plaintext
        .map(|b| b.into_inner())
        .ok_or_else(|| RecordError::Kms("KMS returned no plaintext".into()))
}
