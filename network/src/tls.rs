//! TLS 1.3 for QUIC with certificates made from each node's ed25519 key. A peer is accepted
//! only if the key in its certificate is in the allowed set (and, when dialing, is the key we
//! meant to reach); the TLS handshake signature proves the peer holds that key.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tandem_types::{Address, SecretKey};

use crate::NetworkError;

/// ALPN protocol id of Tandem's peer protocol.
pub const ALPN: &[u8] = b"tandem/1";

/// DER prefix of an ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 },
/// BIT STRING (0 unused bits) }, followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// DER prefix of a PKCS#8 v1 ed25519 private key, followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The set of keys allowed to connect: validators plus any configured full nodes. Shared, so
/// that a validator set change can be applied to a running endpoint.
#[derive(Clone, Debug, Default)]
pub struct PeerSet(Arc<RwLock<BTreeSet<Address>>>);

impl PeerSet {
    /// A set holding `keys`.
    pub fn new(keys: impl IntoIterator<Item = Address>) -> PeerSet {
        PeerSet(Arc::new(RwLock::new(keys.into_iter().collect())))
    }

    /// Whether `key` may connect.
    pub fn contains(&self, key: &Address) -> bool {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(key)
    }

    /// Replaces the set.
    pub fn replace(&self, keys: impl IntoIterator<Item = Address>) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            keys.into_iter().collect();
    }
}

/// The ed25519 key of a certificate, if its public key is an ed25519 key.
pub fn certificate_key(certificate: &CertificateDer<'_>) -> Option<Address> {
    let parsed = webpki::EndEntityCert::try_from(certificate).ok()?;
    let spki = parsed.subject_public_key_info();
    let key = spki.as_ref().strip_prefix(ED25519_SPKI_PREFIX.as_slice())?;
    Some(Address(key.try_into().ok()?))
}

/// A self-signed certificate for `key`, and the key in the form rustls takes.
pub fn certificate_for(
    key: &SecretKey,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), NetworkError> {
    let pkcs8 = [ED25519_PKCS8_PREFIX.as_slice(), &key.seed()].concat();
    let pkcs8 = PrivatePkcs8KeyDer::from(pkcs8);
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
        .map_err(|error| NetworkError::Tls(format!("key: {error}")))?;
    let params = rcgen::CertificateParams::new(vec!["tandem".to_string()])
        .map_err(|error| NetworkError::Tls(format!("certificate parameters: {error}")))?;
    let certificate = params
        .self_signed(&key_pair)
        .map_err(|error| NetworkError::Tls(format!("certificate: {error}")))?;
    Ok((certificate.der().clone(), PrivateKeyDer::Pkcs8(pkcs8)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks a peer's certificate: an ed25519 key, in the allowed set, and the expected one.
#[derive(Debug)]
struct PeerVerifier {
    allowed: PeerSet,
    expected: Option<Address>,
    provider: Arc<CryptoProvider>,
}

impl PeerVerifier {
    fn check(&self, certificate: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let key = certificate_key(certificate)
            .ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if self.expected.is_some_and(|expected| expected != key) || !self.allowed.contains(&key) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(())
    }

    fn verify_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            certificate,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity).map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The node's certificate and key, kept to build per-dial client configurations.
#[derive(Clone, Debug)]
pub struct Identity {
    certificate: CertificateDer<'static>,
    key: Arc<PrivateKeyDer<'static>>,
    /// The node's own address.
    pub address: Address,
}

impl Identity {
    /// The identity of `key`.
    pub fn new(key: &SecretKey) -> Result<Identity, NetworkError> {
        let (certificate, private) = certificate_for(key)?;
        Ok(Identity { certificate, key: Arc::new(private), address: key.address() })
    }

    /// TLS server configuration accepting clients from `allowed` (client certificates required).
    pub fn server_config(&self, allowed: PeerSet) -> Result<rustls::ServerConfig, NetworkError> {
        let verifier = Arc::new(PeerVerifier { allowed, expected: None, provider: provider() });
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|error| NetworkError::Tls(error.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.certificate.clone()], self.key.clone_key())
            .map_err(|error| NetworkError::Tls(error.to_string()))?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }

    /// TLS client configuration that accepts only `expected` (which must also be in `allowed`).
    pub fn client_config(
        &self,
        allowed: PeerSet,
        expected: Address,
    ) -> Result<rustls::ClientConfig, NetworkError> {
        let verifier =
            Arc::new(PeerVerifier { allowed, expected: Some(expected), provider: provider() });
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|error| NetworkError::Tls(error.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(vec![self.certificate.clone()], self.key.clone_key())
            .map_err(|error| NetworkError::Tls(error.to_string()))?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_carries_the_node_key() {
        let key = SecretKey::from_seed(&[9; 32]);
        let (certificate, _) = certificate_for(&key).expect("certificate");
        assert_eq!(certificate_key(&certificate), Some(key.address()));
    }

    #[test]
    fn garbage_certificates_have_no_key() {
        assert_eq!(
            certificate_key(&CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])),
            None
        );
        assert_eq!(certificate_key(&CertificateDer::from(Vec::new())), None);
    }
}
