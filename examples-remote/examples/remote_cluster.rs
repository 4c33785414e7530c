//! Three processes on NATS: this one (the front) asks a `Counter` served by process B and a
//! pool served by B and C, kills B with `SIGKILL`, and restarts it. B and C are this program
//! again, started with `serve-b` or `serve-c`.
//!
//! ```text
//! .ci/nats.sh start
//! ACTOR_NATS_URL=$(.ci/nats.sh url) cargo run -p examples-remote --example remote_cluster
//! ```

#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

use std::process::Command;

use examples_remote::scenario::{self, Role};
use examples_remote::{BoxError, serve};

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if let [role, url, prefix] = &args[..] {
        let with_counter = role == Role::B.as_str();
        return runtime.block_on(serve(url, prefix, with_counter));
    }
    let url = match std::env::var("ACTOR_NATS_URL") {
        Ok(url) => url,
        Err(_) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            return Err("CI=true but ACTOR_NATS_URL is not set: .ci/run starts nats-server".into());
        }
        Err(_) => {
            println!("SKIPPED: set ACTOR_NATS_URL (`.ci/nats.sh start`, then `.ci/nats.sh url`)");
            return Ok(());
        }
    };
    let exe = std::env::current_exe()?;
    let report = runtime.block_on(scenario::run(&url, |role, prefix| {
        let mut command = Command::new(&exe);
        command.args([role.as_str(), &url, prefix]);
        command
    }))?;
    println!("{report}");
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(format!("{problems:#?}").into());
    }
    Ok(())
}
