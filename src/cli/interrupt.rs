//! Ctrl-C, said. Once [`arm`]ed, SIGINT no longer kills the process silently: while nothing has
//! been changed in AWS the process exits at once (130) saying so — the terminal's cursor shown
//! again, as a prompt hides it — and once writes begin the interrupt is only recorded, so that
//! the command finishes them and then says what it did ([`requested`], [`interrupted`]).

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

/// What a Ctrl-C does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnInterrupt {
    /// Nothing was changed: say this line and exit 130 at once.
    Exit(String),
    /// AWS is being changed or followed: record it; the command says the outcome. The line, if
    /// any, is said at once (what is being finished).
    Defer(Option<String>),
}

static POLICY: Mutex<Option<OnInterrupt>> = Mutex::new(None);
static SIGNAL: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Shows the cursor again (prompts and spinners hide it).
pub const SHOW_CURSOR: &str = "\x1b[?25h";

/// Listen for Ctrl-C (from now on it no longer kills the process) and act as `policy` says.
/// Call inside the runtime.
pub fn arm(policy: OnInterrupt) {
    set(policy);
    SIGNAL.get_or_init(|| {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let policy = POLICY.lock().map(|p| p.clone()).unwrap_or(None);
                match policy {
                    Some(OnInterrupt::Exit(line)) => exit_now(&line),
                    Some(OnInterrupt::Defer(Some(line))) => super::output::note(&line),
                    Some(OnInterrupt::Defer(None)) | None => {}
                }
                let _ = tx.send(true);
            }
        });
        rx
    });
}

/// Change the policy. Taking the lock orders it with a Ctrl-C being handled: after `set`
/// returns, a Ctrl-C follows the new policy, and an `Exit` in progress has already ended the
/// process.
pub fn set(policy: OnInterrupt) {
    if let Ok(mut p) = POLICY.lock() {
        *p = Some(policy);
    }
}

/// Whether Ctrl-C was pressed since [`arm`].
pub fn requested() -> bool {
    SIGNAL.get().is_some_and(|rx| *rx.borrow())
}

/// Resolves once Ctrl-C is pressed (at once if it already was). Arms the listener, deferring,
/// when nothing did yet.
pub async fn interrupted() {
    if SIGNAL.get().is_none() {
        arm(OnInterrupt::Defer(None));
    }
    let Some(rx) = SIGNAL.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    if rx.wait_for(|pressed| *pressed).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Show the cursor (on a terminal), say `line` on stderr, exit 130.
pub fn exit_now(line: &str) -> ! {
    static ONCE: Mutex<()> = Mutex::new(());
    // A second caller waits here until the first has exited the process.
    let _held = ONCE.lock();
    let mut err = std::io::stderr().lock();
    if std::io::stderr().is_terminal() {
        let _ = writeln!(err, "{SHOW_CURSOR}");
    }
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
    let _ = std::io::stdout().flush();
    std::process::exit(130)
}
