//! The CI test of the remote scenario: three processes on the test NATS server, B killed with
//! `SIGKILL` and restarted (`examples_remote::scenario`). A `harness = false` test that
//! re-executes itself as B and C; without `ACTOR_NATS_URL` it skips, except under `CI=true`.

#![expect(clippy::print_stdout, reason = "the test reports on stdout")]

use actor_test_support::{BoxError, child_command, nats_url, self_exe_child};
use examples_remote::scenario::{self, Role};

fn main() -> Result<(), BoxError> {
    if let Some(role) = self_exe_child() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let [url, prefix] = &args[..] else { return Err("a server needs <url> <prefix>".into()) };
        let runtime = tokio::runtime::Runtime::new()?;
        return runtime.block_on(examples_remote::serve(url, prefix, role == Role::B.as_str()));
    }
    let Some(url) = nats_url() else { return Ok(()) };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(scenario::run(&url, |role, prefix| {
        child_command(role.as_str(), &[url.as_str(), prefix]).expect("the test binary")
    }))?;
    println!("{report}");
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(format!("{problems:#?}").into());
    }
    Ok(())
}
