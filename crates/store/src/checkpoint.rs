//! WAL checkpoints of the embedded SQLite connection, off the request path.
//!
//! SQLite's own automatic checkpoint runs inside the commit that crosses 1,000 WAL frames, on
//! the committing thread. Since statements run inline on the server's runtime
//! ([`crate::db`]), that thread then sits in three `fsync` calls (the WAL, the database file,
//! the WAL header; 4 to 5 ms here) and every request on it waits, though most of a request's
//! work (TLS, parsing, signatures) needs no database. Under the journey benchmark that was 12%
//! of the pinned core left idle.
//!
//! So the connection's WAL hook (which replaces the automatic checkpoint) only notes the WAL's
//! size, and a commit that leaves it at [`CHECKPOINT_FRAMES`] or more starts a checkpoint on a
//! blocking thread, in two passes:
//! 1. the bulk, from a connection of the thread's own: the server's connection goes on
//!    writing meanwhile;
//! 2. what was committed during the first pass, holding the server's connection (statements
//!    wait for it as they wait for a transaction; the rest of every request goes on). Holding
//!    it, the pass copies every frame, so the next write starts the WAL from its beginning
//!    again and the file stays bounded; the first pass alone would race the writer and let the
//!    WAL grow for as long as the server is busy.
//!
//! `PASSIVE` both times: readers in other processes (the gateway, an operator command) are
//! never waited for.
//!
//! The off-thread checkpoint keeps the WAL near the threshold only while its thread gets the
//! CPU and the disk in time. On a starved machine (slow `fsync`, a runnable queue of other
//! work) the writer can outrun it, so the hook has a backstop: a commit that leaves the WAL at
//! [`BACKSTOP_FRAMES`] checkpoints inline, as SQLite's own automatic checkpoint would. The WAL
//! then stays bounded whatever the scheduler does; in normal running the backstop never fires.

use std::cell::Cell;
use std::os::raw::c_int;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Mutex;

/// WAL frames after which a checkpoint starts: 10,000 (about 40 MB of WAL), ten times
/// SQLite's own default. A checkpoint costs three `fsync`s and copies each page the WAL holds
/// once, however often it was written since the last one; a journey rewrites the same hot
/// pages (the last leaf of each index it inserts into, the consent's pages) in commit after
/// commit, so a longer interval copies far fewer pages per journey. Measured on the journey
/// benchmark: 4 % less server CPU per journey than at 1,000, the checkpoints' share of it
/// (copies and `fsync`s) down from 7 % to 4 %.
#[cfg(not(test))]
pub(crate) const CHECKPOINT_FRAMES: i32 = 10_000;

/// The unit tests' threshold: the same mechanism, at a WAL size a test reaches in seconds.
#[cfg(test)]
pub(crate) const CHECKPOINT_FRAMES: i32 = 1_000;

/// WAL frames at which the committing thread checkpoints inline: the off-thread checkpoint
/// has fallen three thresholds behind.
pub(crate) const BACKSTOP_FRAMES: i32 = 4 * CHECKPOINT_FRAMES;

thread_local! {
    /// The WAL's size in frames after the last commit on this thread: SQLite calls the WAL
    /// hook inside the commit, on the committing thread, and the caller reads it right after.
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// The connection's WAL hook: notes the size, and checkpoints only at the backstop.
fn note_wal_frames(wal: &rusqlite::hooks::Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(frames));
    if frames >= BACKSTOP_FRAMES {
        // Busy (the off-thread pass holds the checkpoint lock) is fine: that pass is copying
        // the frames now, and the next commit past the backstop tries again.
        if let Err(e) = wal.checkpoint_v2(rusqlite::hooks::CheckpointMode::PASSIVE) {
            tracing::debug!(error = %e, "SQLite backstop checkpoint not done");
        }
    }
    Ok(())
}

/// Installs the hook on `conn` (in WAL mode). It replaces SQLite's automatic checkpoint, so a
/// later `PRAGMA wal_autocheckpoint` would undo it.
pub(crate) fn install(conn: &rusqlite::Connection) {
    conn.wal_hook(Some(note_wal_frames));
}

/// Starts the off-thread checkpoints of one connection.
#[derive(Clone)]
pub(crate) struct Checkpointer {
    conn: Arc<Mutex<rusqlite::Connection>>,
    running: Arc<AtomicBool>,
    /// Set when the store is closed: no checkpoint touches the file after that.
    closed: Arc<AtomicBool>,
    /// The database file, for the first pass's own connection.
    path: PathBuf,
    /// That connection, opened by the first checkpoint and kept.
    side: Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
}

impl Checkpointer {
    pub(crate) fn new(
        conn: Arc<Mutex<rusqlite::Connection>>,
        path: PathBuf,
        closed: Arc<AtomicBool>,
    ) -> Self {
        Self {
            conn,
            running: Arc::new(AtomicBool::new(false)),
            closed,
            path,
            side: Arc::default(),
        }
    }

    /// Closes the first pass's connection (the store is closing; `closed` is set).
    pub(crate) fn close(&self) {
        if let Ok(mut side) = self.side.lock() {
            *side = None;
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The first pass, on the side connection (opened on first use). A failure is only
    /// logged: the second pass does the whole checkpoint then.
    fn first_pass(&self) {
        let Ok(mut side) = self.side.lock() else {
            return;
        };
        if self.is_closed() {
            return;
        }
        if side.is_none() {
            use rusqlite::OpenFlags;
            match rusqlite::Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .and_then(|c| c.execute_batch("PRAGMA synchronous = NORMAL").map(|()| c))
            {
                Ok(c) => *side = Some(c),
                Err(e) => tracing::warn!(error = %e, "SQLite checkpoint connection not opened"),
            }
        }
        if let Some(c) = side.as_ref() {
            checkpoint(c);
        }
    }

    /// Called on the thread that just ran a statement or a commit on the connection, after
    /// it let the connection go: starts a checkpoint when that commit left the WAL at the
    /// threshold and none is running yet.
    pub(crate) fn after_write(&self) {
        let frames = WAL_FRAMES.with(|f| f.replace(0));
        if frames < CHECKPOINT_FRAMES
            || self.is_closed()
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        // Clears `running` however the task ends: done, panicked, or dropped unrun by a
        // runtime shutting down. A flag left set would stop checkpoints for good, and the WAL
        // would grow without bound.
        let running = Running(self.running.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        runtime.spawn_blocking(move || {
            let _running = running;
            this.first_pass();
            let conn = this.conn.blocking_lock();
            if !this.is_closed() {
                checkpoint(&conn);
            }
        });
    }
}

/// Holds a checkpoint's `running` flag; clears it when dropped.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// One `PASSIVE` checkpoint on `conn`.
fn checkpoint(conn: &rusqlite::Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        // The next commit past the threshold tries again; SQLite stays consistent.
        tracing::warn!(error = %e, "SQLite WAL checkpoint failed");
    }
}
