//! `shikaku-load`: the load-test harness. This crate only builds for now; the
//! open-loop scheduler, profiles and reports arrive with the load-test issue.

fn main() {
    eprintln!("shikaku-load: the load-test harness is not built yet; see loadtest/README.md");
    std::process::exit(2);
}
