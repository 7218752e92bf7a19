//! One statement path over both backends. PostgreSQL statements go through sqlx's `Any` pool;
//! SQLite statements run inline, on the calling task, against one in-process connection.
//!
//! Why not sqlx for SQLite too: sqlx runs every SQLite statement on a worker thread of its
//! own and hands the result back, two thread switches per statement. A FAPI journey makes
//! dozens of statements, and on one core those switches cost more than the statements
//! themselves (bench/journey-load/README.md: ~130 context switches and 126 futex calls per
//! journey, a third of the server's CPU). An embedded SQLite statement is a few microseconds
//! of work on an indexed table, so it runs where the request runs.
//!
//! The SQL text is the same for both (`$1`, `$2`, ... placeholders, which SQLite reads as
//! named parameters); results are read through one [`Row`] type. The SQLite connection is one
//! (SQLite has one writer at a time; the server has always used one connection for it), held
//! by a transaction for its length and by a statement for its step.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, SqlSafeStr, SqlStr};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::checkpoint::Checkpointer;

/// A bound parameter. NULLs keep their type: PostgreSQL checks the parameter types of a
/// prepared statement.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

/// What can be bound to a statement.
pub(crate) trait Bind {
    fn into_value(self) -> Value;
}

impl Bind for String {
    fn into_value(self) -> Value {
        Value::Text(Some(self))
    }
}
impl Bind for &String {
    fn into_value(self) -> Value {
        Value::Text(Some(self.clone()))
    }
}
impl Bind for &str {
    fn into_value(self) -> Value {
        Value::Text(Some(self.to_string()))
    }
}
impl Bind for Option<String> {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}
impl Bind for &Option<String> {
    fn into_value(self) -> Value {
        Value::Text(self.clone())
    }
}
impl Bind for Option<&str> {
    fn into_value(self) -> Value {
        Value::Text(self.map(str::to_string))
    }
}
impl Bind for Option<&String> {
    fn into_value(self) -> Value {
        Value::Text(self.cloned())
    }
}
impl Bind for i64 {
    fn into_value(self) -> Value {
        Value::Int(Some(self))
    }
}
impl Bind for &i64 {
    fn into_value(self) -> Value {
        Value::Int(Some(*self))
    }
}
impl Bind for Option<i64> {
    fn into_value(self) -> Value {
        Value::Int(self)
    }
}
impl Bind for &Option<i64> {
    fn into_value(self) -> Value {
        Value::Int(*self)
    }
}
impl Bind for i32 {
    fn into_value(self) -> Value {
        Value::Int(Some(i64::from(self)))
    }
}

/// A statement and its parameters, run on a [`Db`] or in a [`Tx`].
pub(crate) struct Query {
    sql: SqlStr,
    args: Vec<Value>,
}

/// A statement from SQL text (a `&'static str`, or `sqlx::AssertSqlSafe` for text built from
/// fixed fragments).
pub(crate) fn query(sql: impl SqlSafeStr) -> Query {
    Query {
        sql: sql.into_sql_str(),
        args: Vec::new(),
    }
}

/// How many rows a statement changed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Done {
    rows: u64,
}

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// The SQLite connection a statement runs on: the shared one (locked for the statement), or
/// the one a transaction holds.
enum LiteOn<'e> {
    Shared(&'e Lite),
    Held(&'e mut LiteTx),
}

/// Where a statement runs.
pub(crate) enum On<'e> {
    Db(&'e Db),
    Tx(&'e mut Tx),
}

impl<'e> From<&'e Db> for On<'e> {
    fn from(db: &'e Db) -> Self {
        On::Db(db)
    }
}

impl<'e> From<&'e mut Tx> for On<'e> {
    fn from(tx: &'e mut Tx) -> Self {
        On::Tx(tx)
    }
}

impl Query {
    /// Adds the next parameter (`$1`, `$2`, ... in order).
    pub(crate) fn bind(mut self, value: impl Bind) -> Self {
        self.args.push(value.into_value());
        self
    }

    fn for_sqlx(self) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(self.sql);
        for v in self.args {
            q = match v {
                Value::Text(s) => q.bind(s),
                Value::Int(i) => q.bind(i),
            };
        }
        q
    }

    /// Runs the statement; the number of rows changed.
    pub(crate) async fn execute<'e>(self, on: impl Into<On<'e>>) -> Result<Done, sqlx::Error> {
        match on.into() {
            On::Db(Db::Any(pool)) => Ok(Done {
                rows: self.for_sqlx().execute(pool).await?.rows_affected(),
            }),
            On::Tx(Tx::Any(tx)) => Ok(Done {
                rows: self.for_sqlx().execute(&mut **tx).await?.rows_affected(),
            }),
            On::Db(Db::Lite(lite)) => Ok(self.on_lite(LiteOn::Shared(lite)).await?.1),
            On::Tx(Tx::Lite(tx)) => Ok(self.on_lite(LiteOn::Held(tx)).await?.1),
        }
    }

    /// Runs the statement; every row it returns.
    pub(crate) async fn fetch_all<'e>(
        self,
        on: impl Into<On<'e>>,
    ) -> Result<Vec<Row>, sqlx::Error> {
        let any = |rows: Vec<AnyRow>| rows.into_iter().map(Row::Any).collect();
        match on.into() {
            On::Db(Db::Any(pool)) => Ok(any(self.for_sqlx().fetch_all(pool).await?)),
            On::Tx(Tx::Any(tx)) => Ok(any(self.for_sqlx().fetch_all(&mut **tx).await?)),
            On::Db(Db::Lite(lite)) => Ok(self.on_lite(LiteOn::Shared(lite)).await?.0),
            On::Tx(Tx::Lite(tx)) => Ok(self.on_lite(LiteOn::Held(tx)).await?.0),
        }
    }

    /// Runs the statement on SQLite: the rows it returns and the rows it changed.
    async fn on_lite(&self, on: LiteOn<'_>) -> Result<(Vec<Row>, Done), sqlx::Error> {
        match on {
            LiteOn::Shared(lite) => {
                let done = run_lite(&*lite.lock().await?, self.sql.as_str(), &self.args);
                lite.checkpointer.after_write();
                done
            }
            LiteOn::Held(tx) => run_lite(tx, self.sql.as_str(), &self.args),
        }
    }

    /// Runs the statement; its first row, if any.
    pub(crate) async fn fetch_optional<'e>(
        self,
        on: impl Into<On<'e>>,
    ) -> Result<Option<Row>, sqlx::Error> {
        match on.into() {
            On::Db(Db::Any(pool)) => Ok(self.for_sqlx().fetch_optional(pool).await?.map(Row::Any)),
            On::Tx(Tx::Any(tx)) => Ok(self
                .for_sqlx()
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Any)),
            other => Ok(self.fetch_all(other).await?.into_iter().next()),
        }
    }

    /// Runs the statement; its first row (`RowNotFound` when there is none).
    pub(crate) async fn fetch_one<'e>(self, on: impl Into<On<'e>>) -> Result<Row, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
}

/// The database statements run on.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    /// PostgreSQL through sqlx's pool.
    Any(AnyPool),
    /// The embedded SQLite connection.
    Lite(Arc<Lite>),
}

impl Db {
    /// Starts a transaction (on SQLite `BEGIN IMMEDIATE`: it takes the write lock at once, so a
    /// second process on the same file waits in the busy handler instead of failing midway).
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Db::Any(pool) => Ok(Tx::Any(pool.begin().await?)),
            Db::Lite(lite) => {
                let conn = lite.lock().await?;
                conn.execute_batch("BEGIN IMMEDIATE").map_err(lite_error)?;
                Ok(Tx::Lite(LiteTx {
                    conn,
                    open: true,
                    checkpointer: lite.checkpointer.clone(),
                }))
            }
        }
    }
}

/// An open transaction; dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Any(sqlx::Transaction<'static, Any>),
    Lite(LiteTx),
}

impl Tx {
    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.end("COMMIT").await
    }

    /// Rolls back (dropping the transaction does the same; this reports a failure).
    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.end("ROLLBACK").await
    }

    async fn end(self, how: &str) -> Result<(), sqlx::Error> {
        match self {
            Tx::Any(tx) if how == "COMMIT" => tx.commit().await,
            Tx::Any(tx) => tx.rollback().await,
            Tx::Lite(mut tx) => {
                tx.open = false;
                let ended = tx.conn.execute_batch(how).map_err(lite_error);
                if ended.is_err() && !tx.conn.is_autocommit() {
                    // A COMMIT that failed (disk full, I/O error) can leave the transaction
                    // open on the shared connection; every later BEGIN would fail.
                    let _ = tx.conn.execute_batch("ROLLBACK");
                }
                let checkpointer = tx.checkpointer.clone();
                drop(tx);
                checkpointer.after_write();
                ended
            }
        }
    }
}

/// The SQLite connection held by a transaction.
pub(crate) struct LiteTx {
    conn: OwnedMutexGuard<rusqlite::Connection>,
    open: bool,
    checkpointer: Checkpointer,
}

impl std::ops::Deref for LiteTx {
    type Target = rusqlite::Connection;
    fn deref(&self) -> &rusqlite::Connection {
        &self.conn
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if self.open {
            // An early return or an error: nothing of the transaction stays.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// The embedded SQLite connection and how long a statement waits for it.
pub(crate) struct Lite {
    conn: Arc<Mutex<rusqlite::Connection>>,
    checkpointer: Checkpointer,
    acquire_timeout: Duration,
    /// Set by [`Lite::close`]: every later statement fails as a closed pool does, and no
    /// checkpoint starts.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").finish_non_exhaustive()
    }
}

/// Statements each connection keeps prepared (the store has about a hundred).
const PREPARED_CACHE: usize = 256;

impl Lite {
    /// Opens the database file with the settings the server has always used: WAL (readers
    /// go on while one writes), `synchronous = NORMAL` (in WAL mode a killed process loses
    /// nothing committed), foreign keys enforced, and a 5 s busy handler for another process
    /// (an operator command) writing the same file. WAL checkpoints run off the request path
    /// ([`crate::checkpoint`]).
    pub(crate) fn open(
        path: &std::path::Path,
        read_only: bool,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        use rusqlite::OpenFlags;
        let access = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
        let conn =
            rusqlite::Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(lite_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(lite_error)?;
        // A read-only connection reads the journal mode the file has (WAL, set by a writer).
        let journal = if read_only {
            ""
        } else {
            "PRAGMA journal_mode = WAL;"
        };
        conn.execute_batch(&format!(
            "{journal} PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        ))
        .map_err(lite_error)?;
        crate::checkpoint::install(&conn);
        conn.set_prepared_statement_cache_capacity(PREPARED_CACHE);
        let conn = Arc::new(Mutex::new(conn));
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        Ok(Self {
            checkpointer: Checkpointer::new(conn.clone(), path.to_path_buf(), closed.clone()),
            conn,
            acquire_timeout,
            closed,
        })
    }

    /// The connection, waiting at most the acquire timeout (a long transaction ahead): then
    /// the statement fails as unavailable, as a pool time-out does on PostgreSQL.
    async fn lock(&self) -> Result<OwnedMutexGuard<rusqlite::Connection>, sqlx::Error> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        tokio::time::timeout(self.acquire_timeout, self.conn.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }

    /// Refuses every later statement (graceful shutdown; tests taking the database away).
    pub(crate) fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.checkpointer.close();
    }
}

/// Statement texts whose shape is remembered (the store has about a hundred, plus
/// the batch shapes); past this the memory is cleared and rebuilt as statements come.
const SHAPES_MAX: usize = 1024;

/// What a statement's text alone decides, remembered per text (see [`shape`]).
#[derive(Clone)]
struct Shape {
    /// For each SQLite parameter slot, the 1-based argument it takes.
    arguments: Arc<[usize]>,
    /// The result columns' names, shared by every row the statement returns.
    columns: Arc<[String]>,
}

thread_local! {
    static SHAPES: std::cell::RefCell<HashMap<Box<str>, Shape>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The statement's argument order and column names. `$N` names the N-th argument wherever it
/// appears, a bare `?` takes its position. SQLite answers a slot's name by walking its list of
/// names, so asking for every slot of a large batch statement costs the square of its size, and
/// every row would otherwise carry fresh copies of the column names: both depend on the text
/// alone (the schema is fixed once migrated; a `*` select is not remembered) and are
/// remembered per text.
fn shape(stmt: &rusqlite::Statement<'_>, sql: &str) -> Result<Shape, sqlx::Error> {
    if let Some(shape) = SHAPES.with(|m| m.borrow().get(sql).cloned()) {
        return Ok(shape);
    }
    let mut arguments = Vec::with_capacity(stmt.parameter_count());
    for i in 1..=stmt.parameter_count() {
        arguments.push(match stmt.parameter_name(i) {
            Some(name) => name[1..].parse::<usize>().map_err(|_| {
                sqlx::Error::Protocol(format!("parameter {name} is not of the form $N"))
            })?,
            None => i,
        });
    }
    let shape = Shape {
        arguments: arguments.into(),
        columns: stmt.column_names().iter().map(|c| c.to_string()).collect(),
    };
    if !sql.contains('*') {
        SHAPES.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= SHAPES_MAX {
                m.clear();
            }
            m.insert(sql.into(), shape.clone());
        });
    }
    Ok(shape)
}

/// Runs one statement on the SQLite connection: its rows (if it returns any) and the rows
/// it changed.
fn run_lite(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Value],
) -> Result<(Vec<Row>, Done), sqlx::Error> {
    let mut stmt = conn.prepare_cached(sql).map_err(lite_error)?;
    let Shape { arguments, columns } = shape(&stmt, sql)?;
    for (i, &n) in arguments.iter().enumerate() {
        let value = args.get(n.wrapping_sub(1)).ok_or_else(|| {
            sqlx::Error::Protocol(format!(
                "statement wants parameter {n}, {} given",
                args.len()
            ))
        })?;
        stmt.raw_bind_parameter(i + 1, value).map_err(lite_error)?;
    }
    let mut rows = Vec::new();
    if columns.is_empty() {
        stmt.raw_execute().map_err(lite_error)?;
    } else {
        let mut cursor = stmt.raw_query();
        while let Some(row) = cursor.next().map_err(lite_error)? {
            let mut values = Vec::with_capacity(columns.len());
            for c in 0..columns.len() {
                values.push(
                    row.get::<_, rusqlite::types::Value>(c)
                        .map_err(lite_error)?,
                );
            }
            rows.push(Row::Lite(LiteRow {
                columns: columns.clone(),
                values,
            }));
        }
    }
    let changed = if stmt.readonly() { 0 } else { conn.changes() };
    Ok((rows, Done { rows: changed }))
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Int(Some(i)) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(None) | Value::Int(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// A result row of either backend.
pub(crate) enum Row {
    Any(AnyRow),
    Lite(LiteRow),
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Row::Any(_) => f.write_str("Row::Any(..)"),
            Row::Lite(row) => row.fmt(f),
        }
    }
}

/// A SQLite result row, read out of the statement.
#[derive(Debug)]
pub(crate) struct LiteRow {
    columns: Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

/// A column by name or position.
pub(crate) enum Col<'a> {
    Name(&'a str),
    At(usize),
}

impl<'a> From<&'a str> for Col<'a> {
    fn from(name: &'a str) -> Self {
        Col::Name(name)
    }
}

impl From<usize> for Col<'_> {
    fn from(at: usize) -> Self {
        Col::At(at)
    }
}

impl Row {
    /// The value of a column, decoded.
    pub(crate) fn try_get<'a, T: Decode, I: Into<Col<'a>>>(
        &self,
        col: I,
    ) -> Result<T, sqlx::Error> {
        let col = col.into();
        match self {
            Row::Any(row) => T::from_any(row, col),
            Row::Lite(row) => {
                let at = match col {
                    Col::At(at) => at,
                    Col::Name(name) => row
                        .columns
                        .iter()
                        .position(|c| c == name)
                        .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_string()))?,
                };
                let value = row
                    .values
                    .get(at)
                    .ok_or(sqlx::Error::ColumnIndexOutOfBounds {
                        index: at,
                        len: row.values.len(),
                    })?;
                T::from_lite(value).map_err(|message| sqlx::Error::ColumnDecode {
                    index: row.columns.get(at).cloned().unwrap_or_default(),
                    source: message.into(),
                })
            }
        }
    }
}

/// A Rust type a column decodes to, from either backend.
pub(crate) trait Decode: Sized {
    fn from_any(row: &AnyRow, col: Col<'_>) -> Result<Self, sqlx::Error>;
    fn from_lite(value: &rusqlite::types::Value) -> Result<Self, String>;
}

fn from_any<T>(row: &AnyRow, col: Col<'_>) -> Result<T, sqlx::Error>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    use sqlx::Row as _;
    match col {
        Col::Name(name) => row.try_get(name),
        Col::At(at) => row.try_get(at),
    }
}

fn mismatch(want: &str, got: &rusqlite::types::Value) -> String {
    format!("expected {want}, found {:?}", got.data_type())
}

impl Decode for String {
    fn from_any(row: &AnyRow, col: Col<'_>) -> Result<Self, sqlx::Error> {
        from_any(row, col)
    }
    fn from_lite(value: &rusqlite::types::Value) -> Result<Self, String> {
        match value {
            rusqlite::types::Value::Text(s) => Ok(s.clone()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl Decode for i64 {
    fn from_any(row: &AnyRow, col: Col<'_>) -> Result<Self, sqlx::Error> {
        from_any(row, col)
    }
    fn from_lite(value: &rusqlite::types::Value) -> Result<Self, String> {
        match value {
            rusqlite::types::Value::Integer(i) => Ok(*i),
            other => Err(mismatch("integer", other)),
        }
    }
}

impl Decode for i32 {
    fn from_any(row: &AnyRow, col: Col<'_>) -> Result<Self, sqlx::Error> {
        from_any(row, col)
    }
    fn from_lite(value: &rusqlite::types::Value) -> Result<Self, String> {
        let i = i64::from_lite(value)?;
        i32::try_from(i).map_err(|_| format!("{i} does not fit in 32 bits"))
    }
}

impl<T: Decode> Decode for Option<T>
where
    Option<T>: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    fn from_any(row: &AnyRow, col: Col<'_>) -> Result<Self, sqlx::Error> {
        from_any(row, col)
    }
    fn from_lite(value: &rusqlite::types::Value) -> Result<Self, String> {
        match value {
            rusqlite::types::Value::Null => Ok(None),
            other => T::from_lite(other).map(Some),
        }
    }
}

/// A SQLite error as sqlx reports database errors, so one error path serves both backends
/// (a unique-constraint violation is still told apart).
#[derive(Debug)]
struct LiteError {
    message: String,
    code: Option<String>,
    /// Which constraint kind was violated, if any.
    violation: Option<Violation>,
}

/// The constraint violations sqlx tells apart.
#[derive(Clone, Copy, Debug)]
enum Violation {
    Unique,
    ForeignKey,
    NotNull,
    Check,
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiteError {}

impl sqlx::error::DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        match self.violation {
            Some(Violation::Unique) => ErrorKind::UniqueViolation,
            Some(Violation::ForeignKey) => ErrorKind::ForeignKeyViolation,
            Some(Violation::NotNull) => ErrorKind::NotNullViolation,
            Some(Violation::Check) => ErrorKind::CheckViolation,
            None => ErrorKind::Other,
        }
    }
}

fn lite_error(e: rusqlite::Error) -> sqlx::Error {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let violation = match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    Some(Violation::Unique)
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
                ffi::SQLITE_CONSTRAINT_NOTNULL => Some(Violation::NotNull),
                ffi::SQLITE_CONSTRAINT_CHECK => Some(Violation::Check),
                _ => None,
            };
            sqlx::Error::Database(Box::new(LiteError {
                message: message.clone().unwrap_or_else(|| e.to_string()),
                code: Some(failure.extended_code.to_string()),
                violation,
            }))
        }
        _ => sqlx::Error::Database(Box::new(LiteError {
            message: e.to_string(),
            code: None,
            violation: None,
        })),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn lite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let lite = Lite::open(&dir.path().join("t.db"), false, Duration::from_secs(1)).unwrap();
        (dir, Db::Lite(Arc::new(lite)))
    }

    /// Without checkpoints 12,000 commits would leave a WAL of over 12,000 frames (49 MB); the
    /// off-thread checkpoint keeps it near the threshold, and the inline backstop keeps it
    /// bounded even when that thread is starved (a busy CI machine), for autocommit
    /// statements and transactions alike, and every row is there.
    #[tokio::test]
    async fn op_1_the_wal_is_checkpointed_off_the_request_path_and_stays_bounded() {
        let (dir, db) = lite();
        query("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&db)
            .await
            .unwrap();
        for n in 0..12_000i64 {
            let insert = query("INSERT INTO t (n, v) VALUES ($1, $2)")
                .bind(n)
                .bind("a value of a few dozen bytes, as a consent id or a hash");
            if n % 2 == 0 {
                insert.execute(&db).await.unwrap();
            } else {
                let mut tx = db.begin().await.unwrap();
                insert.execute(&mut tx).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
        let count = query("SELECT COUNT(*) AS c FROM t")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(count.try_get::<i64, _>("c").unwrap(), 12_000);
        let frame = 4096 + 24;
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        // The backstop plus what one off-thread pass, holding the checkpoint lock, lets
        // through; still under half of the unchecked WAL.
        let bound = 6 * crate::checkpoint::CHECKPOINT_FRAMES as u64 * frame;
        assert!(wal < bound, "WAL of {wal} bytes, bound {bound}");
    }

    /// A COMMIT SQLite refuses (here a deferred foreign key) leaves its transaction open on
    /// the connection; it is rolled back, so nothing of it stays and the next one can begin.
    #[tokio::test]
    async fn op_1_a_refused_commit_leaves_nothing_and_the_connection_usable() {
        let (_dir, db) = lite();
        for sql in [
            "CREATE TABLE parent (id TEXT PRIMARY KEY)",
            "CREATE TABLE child (id TEXT PRIMARY KEY, parent TEXT NOT NULL \
             REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
        ] {
            query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&db)
                .await
                .unwrap();
        }
        let mut tx = db.begin().await.unwrap();
        query("INSERT INTO child (id, parent) VALUES ('c', 'missing')")
            .execute(&mut tx)
            .await
            .unwrap();
        assert!(tx.commit().await.is_err(), "the orphan was committed");
        let mut next = db.begin().await.unwrap();
        query("INSERT INTO parent (id) VALUES ('p')")
            .execute(&mut next)
            .await
            .unwrap();
        next.commit().await.unwrap();
        let orphans = query("SELECT COUNT(*) AS n FROM child")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(orphans.try_get::<i64, _>("n").unwrap(), 0);
    }

    #[tokio::test]
    async fn op_1_placeholders_bind_by_number_wherever_they_appear() {
        let (_dir, db) = lite();
        let row = query("SELECT $2 AS b, $1 AS a, $2 || $1 AS ba")
            .bind("one")
            .bind("two")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>("a").unwrap(), "one");
        assert_eq!(row.try_get::<String, _>("b").unwrap(), "two");
        assert_eq!(row.try_get::<String, _>(2).unwrap(), "twoone");
        assert!(
            row.try_get::<i64, _>("a").is_err(),
            "text is not read as a number"
        );
        assert!(matches!(
            row.try_get::<String, _>("missing"),
            Err(sqlx::Error::ColumnNotFound(_))
        ));
    }

    #[tokio::test]
    async fn op_1_a_transaction_dropped_without_commit_leaves_nothing() {
        let (_dir, db) = lite();
        query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)")
            .execute(&db)
            .await
            .unwrap();
        {
            let mut tx = db.begin().await.unwrap();
            query("INSERT INTO t (k, n) VALUES ($1, $2)")
                .bind("a")
                .bind(1_i64)
                .execute(&mut tx)
                .await
                .unwrap();
            // Dropped here, as by an early `?`.
        }
        let mut tx = db.begin().await.unwrap();
        let done = query("INSERT INTO t (k, n) VALUES ($1, $2)")
            .bind("b")
            .bind(Option::<i64>::None)
            .execute(&mut tx)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        tx.commit().await.unwrap();
        let rows = query("SELECT k, n FROM t").fetch_all(&db).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].try_get::<String, _>("k").unwrap(), "b");
        assert_eq!(rows[0].try_get::<Option<i64>, _>("n").unwrap(), None);
    }

    #[tokio::test]
    async fn ca_1_a_claimed_key_is_a_conflict_and_op_2_a_closed_database_is_unavailable() {
        let (_dir, db) = lite();
        query("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .execute(&db)
            .await
            .unwrap();
        query("INSERT INTO t (k) VALUES ($1)")
            .bind("a")
            .execute(&db)
            .await
            .unwrap();
        let err = query("INSERT INTO t (k) VALUES ($1)")
            .bind("a")
            .execute(&db)
            .await
            .unwrap_err();
        assert!(matches!(
            crate::StoreError::from_insert(err, "dup"),
            crate::StoreError::Conflict(_)
        ));
        let ignored = query("INSERT INTO t (k) VALUES ($1) ON CONFLICT (k) DO NOTHING")
            .bind("a")
            .execute(&db)
            .await
            .unwrap();
        assert_eq!(ignored.rows_affected(), 0);
        let Db::Lite(lite) = &db else { unreachable!() };
        lite.close();
        let err = query("SELECT 1").fetch_one(&db).await.unwrap_err();
        assert!(crate::error::is_connection_error(&err), "{err}");
    }
}
