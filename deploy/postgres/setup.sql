-- PostgreSQL for one centre's hfx node: a database per centre and three roles.
--
--   hfx_<centre>_owner  owns the database, the schema `hfx` and every table; runs migrations
--                       when an upgrade brings new ones (as the DBA's `setup.sh`), restores.
--   hfx_<centre>_app    the node at run time: SELECT/INSERT/UPDATE/DELETE, never TRUNCATE,
--                       never UPDATE/DELETE on the append-only tables (log entries,
--                       checkpoints, disclosures, witness evidence), never owner: it cannot
--                       drop or disable the append-only triggers.
--   hfx_<centre>_audit  read-only (auditors' offline reads, `pg_dump` backups).
--
-- Run by deploy/postgres/setup.sh as a superuser (or a role with CREATEROLE and CREATEDB that
-- is a member of the three), with psql variable `centre`. Idempotent: run it before the
-- node's first start, and again after that first start and after every upgrade (see
-- "Migrations" below). Passwords (optional) come from the environment: HFX_OWNER_PASSWORD,
-- HFX_APP_PASSWORD, HFX_AUDIT_PASSWORD.
--
-- Migrations: the node migrates its store at start, and at every start it runs
-- `CREATE TABLE IF NOT EXISTS hfx_schema`, which PostgreSQL refuses without CREATE on the
-- schema even when the table exists. So the app role keeps CREATE on `hfx`; whatever it
-- creates (a first start, an upgrade's migration) it owns until this script runs again and
-- hands it to the owner (REASSIGN OWNED) and re-applies the grants.

\set ON_ERROR_STOP on
\if :{?centre}
\else
  DO $$ BEGIN RAISE EXCEPTION 'setup.sql: give -v centre=<15-digit centre code>'; END $$;
\endif
SELECT (:'centre' ~ '^[0-9]{15}$') AS centre_ok \gset
\if :centre_ok
\else
  DO $$ BEGIN RAISE EXCEPTION 'setup.sql: centre must be 15 digits'; END $$;
\endif

\set db 'hfx_' :centre
\set owner 'hfx_' :centre '_owner'
\set app 'hfx_' :centre '_app'
\set audit 'hfx_' :centre '_audit'

-- Roles (cluster-wide), created once; passwords set when given.
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS', r)
  FROM unnest(ARRAY[:'owner', :'app', :'audit']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec

\getenv owner_pw HFX_OWNER_PASSWORD
\getenv app_pw HFX_APP_PASSWORD
\getenv audit_pw HFX_AUDIT_PASSWORD
\if :{?owner_pw}
  ALTER ROLE :"owner" PASSWORD :'owner_pw';
\endif
\if :{?app_pw}
  ALTER ROLE :"app" PASSWORD :'app_pw';
\endif
\if :{?audit_pw}
  ALTER ROLE :"audit" PASSWORD :'audit_pw';
\endif
-- Enough connections for the node's pools (store 8, read-only 2) during a failover overlap.
ALTER ROLE :"app" CONNECTION LIMIT 40;

-- The centre's database, closed to everyone else.
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'db', :'owner', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
GRANT CONNECT ON DATABASE :"db" TO :"audit";

\connect :"db"
\set ON_ERROR_STOP on
SET client_min_messages = warning;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS hfx AUTHORIZATION :"owner";
ALTER ROLE :"owner" IN DATABASE :"db" SET search_path = hfx;
ALTER ROLE :"app" IN DATABASE :"db" SET search_path = hfx;
ALTER ROLE :"audit" IN DATABASE :"db" SET search_path = hfx;
ALTER ROLE :"audit" IN DATABASE :"db" SET default_transaction_read_only = on;

GRANT USAGE, CREATE ON SCHEMA hfx TO :"app";
GRANT USAGE ON SCHEMA hfx TO :"audit";

-- Tables the owner creates later are the app's to use and the auditor's to read.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA hfx
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA hfx
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA hfx
  GRANT SELECT ON TABLES TO :"audit";

-- What the node created (first start, an upgrade's migrations) becomes the owner's.
REASSIGN OWNED BY :"app" TO :"owner";

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA hfx TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA hfx TO :"app";
REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA hfx FROM :"app";
GRANT SELECT ON ALL TABLES IN SCHEMA hfx TO :"audit";

-- Append-only tables: INSERT and SELECT only (their triggers refuse UPDATE and DELETE too;
-- this makes it two locks, and neither can be lifted by the app role).
SELECT format('REVOKE UPDATE, DELETE ON hfx.%I FROM %I', t, :'app')
  FROM unnest(ARRAY['log_entries', 'log_checkpoints', 'log_tiles', 'disclosures', 'witness_evidence']) AS t
 WHERE to_regclass(format('hfx.%I', t)) IS NOT NULL \gexec

SELECT count(*) AS tables FROM pg_tables WHERE schemaname = 'hfx' \gset
\echo 'database' :db ': roles' :owner :app :audit '; tables in schema hfx:' :tables
