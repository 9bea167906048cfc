//! A private CA and a server certificate it issued, made at test time
//! with rcgen, for the tests of TLS (the hub's HTTPS, PostgreSQL's
//! `sslmode`).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// PEM texts of a CA, and of a certificate it issued for `names` (host
/// names or IP addresses) with its key.
pub struct Issued {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// A new CA and a server certificate for `names`, common name `subject`.
pub fn issue(names: &[&str], subject: &str) -> Issued {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "agentdeck test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut server = CertificateParams::new(names).unwrap();
    server.distinguished_name.push(DnType::CommonName, subject);
    let cert = server.signed_by(&key, &ca).unwrap();
    Issued {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}
