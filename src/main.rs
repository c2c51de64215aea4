//! The `shikaku` command; see `shikaku --help`.

fn main() {
    if let Err(error) = shikaku::cli::run() {
        eprintln!("shikaku: {error:#}");
        std::process::exit(1);
    }
}
