//! `shikaku tls gen`: a test PKI for mutual TLS (see [`crate::gen::tls`]).

use crate::gen::tls::{write, TlsGenOptions};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(super) enum TlsCommand {
    /// Make an institution CA, a server certificate, client certificates,
    /// the CA's CRL and a matching institutions.csv (test material).
    Gen {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Institutions to issue a client certificate for.
        #[arg(long, default_value_t = 10)]
        institutions: u32,
        /// How many of them (the last ones) the CRL revokes.
        #[arg(long, default_value_t = 1)]
        revoked: u32,
        /// Days the certificates are valid.
        #[arg(long, default_value_t = 365)]
        valid_days: i64,
    },
}

pub(super) fn run(command: TlsCommand) -> anyhow::Result<()> {
    match command {
        TlsCommand::Gen {
            out,
            institutions,
            revoked,
            valid_days,
        } => {
            let options = TlsGenOptions {
                institutions,
                revoked,
                valid_days,
            };
            let clients = write(&out, &options)?;
            let dir = out.display();
            println!(
                "wrote {dir}: ca.pem, server.pem + server-key.pem, {} client certificates under clients/ ({revoked} revoked by crl.der), institutions.csv, clients.csv",
                clients.len()
            );
            println!("serve: shikaku serve --tls-cert {dir}/server.pem --tls-key {dir}/server-key.pem --client-ca {dir}/ca.pem --client-crl {dir}/crl.der --institutions {dir}/institutions.csv");
            Ok(())
        }
    }
}
