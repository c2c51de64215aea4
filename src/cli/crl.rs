//! `shikaku crl build | inspect`: the CRL as its own generation (see
//! [`crate::crl`]); activation is `POST /admin/crl/activate`.

use crate::crl::store::{self, CRL_MANIFEST_FILE};
use crate::crl::trust::CaCertificate;
use crate::crl::{import, Crl};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(super) enum CrlCommand {
    /// Import a DER or PEM X.509 CRL, verify its signature against the CA,
    /// and write a CRL directory the server can activate.
    Build {
        /// The CRL file (DER or PEM), as the CA publishes it.
        #[arg(long)]
        crl: PathBuf,
        /// The CA certificate(s) that may have signed it (PEM or DER).
        #[arg(long)]
        ca: PathBuf,
        /// New CRL directory (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// CRL id (default: `crl-<thisUpdate>-<CRL number>`).
        #[arg(long)]
        id: Option<String>,
    },
    /// Print what a CRL directory (checksums verified) or a CRL file holds.
    Inspect {
        /// A `crl build` directory, or a CRL file with --ca.
        path: PathBuf,
        /// CA certificate(s) to verify a CRL file against.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(command: CrlCommand) -> anyhow::Result<()> {
    match command {
        CrlCommand::Build { crl, ca, out, id } => {
            let cas = CaCertificate::read_bundle(&ca).map_err(anyhow::Error::msg)?;
            let imported = import(&crl, &cas)?;
            let manifest = store::write(&imported, &out, id)?;
            println!(
                "built CRL {} in {}\n  {} revoked, {} suspended ({} entries, {} listed twice); issuer {}\n  thisUpdate {}, nextUpdate {}, number {}\n  import {:.2} s (signature and entries {:.2} s), build {:.2} s in all",
                manifest.id,
                out.display(),
                manifest.revoked,
                manifest.suspended,
                manifest.crl.entries,
                manifest.crl.duplicate_entries,
                manifest.crl.issuer,
                manifest.crl.this_update,
                manifest.crl.next_update.as_deref().unwrap_or("none"),
                manifest.crl.number.as_deref().unwrap_or("none"),
                manifest.import_seconds,
                imported.parse_seconds,
                manifest.build_seconds
            );
            Ok(())
        }
        CrlCommand::Inspect { path, ca, json } => {
            let crl = if path.is_dir() {
                store::open(&path)?.0
            } else {
                let ca = ca.ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: a CRL file needs --ca to verify it (or give a directory with {CRL_MANIFEST_FILE})",
                        path.display()
                    )
                })?;
                let cas = CaCertificate::read_bundle(&ca).map_err(anyhow::Error::msg)?;
                let imported = import(&path, &cas)?;
                Crl::new(
                    imported.meta.default_id(),
                    Some(imported.meta),
                    imported.sets,
                )?
            };
            print_crl(&crl, json)
        }
    }
}

fn print_crl(crl: &Crl, json: bool) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    if json {
        let value = serde_json::json!({
            "id": crl.id(),
            "revoked": crl.sets().revoked_count(),
            "suspended": crl.sets().suspended_count(),
            "stale": crl.is_stale(now),
            "crl": crl.meta(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("CRL {}", crl.id());
    println!(
        "  {} revoked, {} suspended",
        crl.sets().revoked_count(),
        crl.sets().suspended_count()
    );
    if let Some(meta) = crl.meta() {
        println!("  issuer {}", meta.issuer);
        println!(
            "  thisUpdate {}, nextUpdate {}{}",
            meta.this_update,
            meta.next_update.as_deref().unwrap_or("none"),
            if crl.is_stale(now) {
                " (PAST: stale)"
            } else {
                ""
            }
        );
        println!(
            "  number {}, signed with {}, source {} ({} bytes, xxh3 {})",
            meta.number.as_deref().unwrap_or("none"),
            meta.signature_algorithm,
            meta.source.file,
            meta.source.bytes,
            meta.source.xxh3_128
        );
    }
    Ok(())
}
