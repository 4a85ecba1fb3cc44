//! The `rapport` binary: everything lives in `rapport-cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rapport: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(rapport_cli::Cli::main());
    // The modules have stopped (or the shutdown deadline passed). Dropping
    // the runtime would wait for every task and blocking call still in it,
    // such as a Kafka client retrying a broker that is gone; the exit must
    // not wait for those, so the runtime is left to the process exit.
    std::mem::forget(runtime);
    code
}
