//! Scratch databases on a PostgreSQL or MariaDB server, for tests, the demo and benchmarks.

use hfx_adapters::AdapterError;
use sqlx::{Connection, MySqlConnection, PgConnection};

/// Only plain identifiers become database names (they are spliced into DDL).
fn check_db_name(name: &str, max: usize) -> Result<(), AdapterError> {
    if name.is_empty()
        || name.len() > max
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(AdapterError::other(format!(
            "database name {name:?} must be 1-{max} characters of [A-Za-z0-9_]"
        )));
    }
    Ok(())
}

/// `url` with its database path replaced by `name` (query string kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let auth_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[auth_start..]
        .find('/')
        .map_or(base.len(), |i| auth_start + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// PostgreSQL databases.
pub mod postgres {
    use super::*;

    /// Create database `name` on the server at `server_url` (e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`); returns the new database's URL.
    pub async fn create_database(server_url: &str, name: &str) -> Result<String, AdapterError> {
        check_db_name(name, 63)?;
        let mut conn = PgConnection::connect(server_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(with_database(server_url, name))
    }

    /// Drop database `name` (if it exists), ending any sessions still connected to it.
    pub async fn drop_database(server_url: &str, name: &str) -> Result<(), AdapterError> {
        check_db_name(name, 63)?;
        let mut conn = PgConnection::connect(server_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// MariaDB / MySQL databases.
pub mod mariadb {
    use super::*;

    /// Create database `name` on the server at `server_url` (e.g. `mysql://root@127.0.0.1:3306`);
    /// returns the new database's URL.
    pub async fn create_database(server_url: &str, name: &str) -> Result<String, AdapterError> {
        check_db_name(name, 64)?;
        let mut conn = MySqlConnection::connect(server_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(with_database(server_url, name))
    }

    /// Drop database `name` if it exists.
    pub async fn drop_database(server_url: &str, name: &str) -> Result<(), AdapterError> {
        check_db_name(name, 64)?;
        let mut conn = MySqlConnection::connect(server_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{name}`"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// Drop a scratch database of `kind` (postgres or mariadb).
pub async fn drop_database(kind: &str, server_url: &str, name: &str) -> Result<(), AdapterError> {
    match kind {
        "postgres" => postgres::drop_database(server_url, name).await,
        "mariadb" => mariadb::drop_database(server_url, name).await,
        other => Err(AdapterError::other(format!(
            "no scratch databases for core kind {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "y"),
            "postgres://u:p@h/y?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306", "z"),
            "mysql://root@127.0.0.1:3306/z"
        );
        assert!(check_db_name("hfx_test_1", 63).is_ok());
        assert!(check_db_name("x\"; DROP", 63).is_err());
    }
}
