//! Cross-check with the `openssl` command line: CRLs and certificates made
//! by OpenSSL (RSA, as the JPKI CA signs, and ECDSA P-256) import and verify
//! exactly as OpenSSL reads them, and OpenSSL verifies the ones `shikaku
//! gen` makes. Needs `openssl` on the PATH (CI installs it when absent).

mod common;

use common::openssl::openssl;
use shikaku::crl::certificate::{Judged, UserCertificate};
use shikaku::crl::import;
use shikaku::crl::trust::CaCertificate;
use shikaku::model::Revocation;
use shikaku::model::{Date, Serial};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What OpenSSL says a CRL lists: serial → reason text (empty if none).
fn openssl_listing(dir: &Path, crl: &str) -> BTreeMap<Serial, String> {
    let text = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", crl, "-noout", "-text"],
    );
    let mut listed = BTreeMap::new();
    let mut current: Option<Serial> = None;
    let mut reason_next = false;
    for line in text.lines().map(str::trim) {
        if let Some(hex) = line.strip_prefix("Serial Number: ") {
            let serial = Serial::parse(&format!("0x{hex}")).unwrap();
            listed.insert(serial, String::new());
            current = Some(serial);
        } else if line == "X509v3 CRL Reason Code:" {
            reason_next = true;
        } else if reason_next {
            listed.insert(current.unwrap(), line.to_string());
            reason_next = false;
        }
    }
    listed
}

/// A CA (`key` is an `openssl req -newkey` argument) with three revoked
/// certificates (one on hold, one with a 20-byte serial) and the CRL of them.
fn openssl_ca(dir: &Path, key: &[&str]) {
    let mut req = vec![
        "req", "-x509", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
    ];
    req.extend_from_slice(key);
    req.extend_from_slice(&[
        "-days",
        "3650",
        "-sha256",
        "-subj",
        "/C=JP/O=JPKI openssl test/CN=openssl test CA",
    ]);
    openssl(dir, &req);
    let index = [
        "R\t301231000000Z\t261101000000Z,keyCompromise\t44\tunknown\t/CN=a",
        "R\t301231000000Z\t261101000000Z,certificateHold,holdInstructionReject\t55\tunknown\t/CN=b",
        "R\t301231000000Z\t261101000000Z\tFF0102030405060708090A0B0C0D0E0F10111213\tunknown\t/CN=c",
        "R\t301231000000Z\t261101000000Z,superseded\t0A\tunknown\t/CN=d",
    ];
    std::fs::write(dir.join("index.txt"), index.join("\n") + "\n").unwrap();
    std::fs::write(dir.join("crlnumber"), "2A\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ ca ]\ndefault_ca = test\n[ test ]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         certificate = ca.pem\nprivate_key = ca.key\ndefault_md = sha256\ndefault_crl_days = 2\n",
    )
    .unwrap();
    openssl(
        dir,
        &["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"],
    );
    openssl(
        dir,
        &[
            "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
        ],
    );
}

/// A user certificate with `serial` signed by the CA in `dir`.
fn openssl_certificate(dir: &Path, serial: &str, out: &str) {
    if !dir.join("user.csr").exists() {
        openssl(
            dir,
            &[
                "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "user.key", "-subj",
                "/CN=user", "-out", "user.csr",
            ],
        );
    }
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "user.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "365",
            "-sha256",
            "-out",
            out,
        ],
    );
}

fn read_ca(dir: &Path) -> Vec<CaCertificate> {
    CaCertificate::read_bundle(&dir.join("ca.pem")).unwrap()
}

#[test]
fn openssl_crls_and_certificates_import_and_verify_as_openssl_reads_them() {
    for key in [
        &["-newkey", "rsa:2048"][..],
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        openssl_ca(dir, key);
        let cas = read_ca(dir);
        let from_der = import(&dir.join("crl.der"), &cas).unwrap();
        let from_pem = import(&dir.join("crl.pem"), &cas).unwrap();
        assert_eq!(from_der.sets, from_pem.sets, "{key:?}");
        assert_eq!(from_der.meta.number.as_deref(), Some("42"));
        let listing = openssl_listing(dir, "crl.der");
        assert_eq!(listing.len() as u64, from_der.meta.entries, "{key:?}");
        for (serial, reason) in &listing {
            let expected = if reason == "Certificate Hold" {
                Revocation::Suspended
            } else {
                Revocation::Revoked
            };
            assert_eq!(
                from_der.sets.status(serial),
                Some(expected),
                "{serial} {reason}"
            );
        }
        assert!(openssl(
            dir,
            &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"]
        )
        .contains("verify OK"));

        openssl_certificate(
            dir,
            "0xFF0102030405060708090A0B0C0D0E0F10111213",
            "wide.pem",
        );
        openssl_certificate(dir, "0x11", "current.pem");
        let today = Date::today_in_japan();
        for (file, serial) in [
            ("wide.pem", "0xff0102030405060708090a0b0c0d0e0f10111213"),
            ("current.pem", "0x11"),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let certificate = UserCertificate::parse(&bytes).unwrap();
            assert_eq!(certificate.serial(), Serial::parse(serial).unwrap());
            assert_eq!(certificate.judge(&cas, true, today), Ok(Judged::Current));
            assert!(openssl(dir, &["verify", "-CAfile", "ca.pem", file]).contains("OK"));
        }
        let pem = std::fs::read(dir.join("current.pem")).unwrap();
        let mut damaged = der::pem::decode_vec(&pem).unwrap().1;
        let last = damaged.len() - 5;
        damaged[last] ^= 1; // inside the signature
        std::fs::write(dir.join("forged.der"), &damaged).unwrap();
        let certificate = UserCertificate::parse(&damaged).unwrap();
        assert!(certificate
            .judge(&cas, true, today)
            .unwrap_err()
            .contains("signature"));
        let openssl_refuses = !Command::new("openssl")
            .args(["verify", "-CAfile", "ca.pem", "-inform", "DER"])
            .arg("forged.der")
            .current_dir(dir)
            .output()
            .unwrap()
            .status
            .success();
        assert!(openssl_refuses, "openssl accepted the altered certificate");
    }
}

#[test]
fn openssl_verifies_what_shikaku_gen_makes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    shikaku::gen::generate(&shikaku::gen::GenOptions {
        persons: 300,
        seed: 3,
        out: dir.to_path_buf(),
        today: Date::today_in_japan(),
        crl_entries: Some(500),
        crl_random_serials: true,
        compression: shikaku::source::csv_input::Compression::None,
        progress: false,
    })
    .unwrap();
    let verified = openssl(
        dir,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "crl-issuer.pem",
            "-noout",
        ],
    );
    assert!(verified.contains("verify OK"), "{verified}");
    let ours = import(
        &dir.join("crl.der"),
        &CaCertificate::read_bundle(&dir.join("crl-issuer.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        openssl_listing(dir, "crl.der").len() as u64,
        ours.meta.entries
    );
    assert_eq!(ours.meta.entries, 500);
    let refused = Command::new("openssl")
        .args([
            "crl",
            "-inform",
            "DER",
            "-in",
            "pki/crl-wrong-signature.der",
            "-CAfile",
            "crl-issuer.pem",
            "-noout",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&refused.stderr).to_string()
        + &String::from_utf8_lossy(&refused.stdout);
    assert!(
        !refused.status.success() || text.contains("verify failure"),
        "{text}"
    );
    let index = std::fs::read_to_string(dir.join("pki/certificates.csv")).unwrap();
    for line in index.lines().skip(1).take(5) {
        let file = line.split(',').next().unwrap();
        let path = format!("pki/{file}");
        assert!(
            openssl(dir, &["verify", "-CAfile", "crl-issuer.pem", &path]).contains("OK"),
            "{path}"
        );
    }
}
