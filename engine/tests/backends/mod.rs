//! Runs a test case on each store backend: SQLite in a temporary directory always,
//! PostgreSQL when `RUNNEL_TEST_DATABASE_URL` names a server (`tests/run` starts one), each
//! case in a database of its own that is dropped afterwards.

#![allow(dead_code)]

use std::future::Future;

use runnel_engine::store::{Store, new_id};
use sqlx::Connection;

const DATABASE_URL_VARIABLE: &str = "RUNNEL_TEST_DATABASE_URL";

/// Where a case's database is: a URL for [`Store::open`].
#[derive(Debug, Clone)]
pub struct Db {
    pub url: String,
    pub backend: &'static str,
}

impl Db {
    pub async fn open(&self) -> Store {
        let store = Store::open(&self.url)
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", self.backend));
        assert_eq!(store.backend(), self.backend);
        store
    }
}

/// Runs `case` on SQLite, then on PostgreSQL if there is one.
pub async fn each_backend<F, Fut>(case: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    // Parent directories that do not exist yet: open creates them.
    let path = dir.path().join("state/records/runs.db");
    case(Db {
        url: format!("sqlite://{}", path.display()),
        backend: "sqlite",
    })
    .await;

    let Ok(admin_url) = std::env::var(DATABASE_URL_VARIABLE) else {
        eprintln!("skipping PostgreSQL store tests: {DATABASE_URL_VARIABLE} is not set");
        return;
    };
    let database = format!("runnel_test_{}", new_id().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {DATABASE_URL_VARIABLE}: {error}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let db = Db {
        url: with_database(&admin_url, &database),
        backend: "postgres",
    };
    // On a task of its own, so that the database is dropped even when the case panics.
    let outcome = tokio::spawn(case(db)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// `url` with its database (the path) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").expect("a URL") + 3;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}
