-- An example legacy user schema for PostgreSQL, the kind the sql directory
-- reads (deploy/sql/config.postgres.yaml names these tables). Passwords are
-- legacy md5(salt || password) digests until a login upgrades them to
-- argon2id (upgrade_hashes: true).
CREATE TABLE users (
  id           BIGSERIAL PRIMARY KEY,
  login_name   TEXT NOT NULL UNIQUE,
  pwd          TEXT,
  pwd_salt     TEXT,
  real_name    TEXT,
  nick         TEXT,
  phone        TEXT UNIQUE,          -- the arbiter of concurrent first SMS logins
  avatar       TEXT,
  main_company BIGINT,
  reg_source   TEXT,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE user_companies (
  user_id    BIGINT NOT NULL REFERENCES users (id),
  company_id BIGINT NOT NULL,
  PRIMARY KEY (user_id, company_id)
);
-- alice / wonderland, a legacy digest: md5('s4lt' || 'wonderland')
INSERT INTO users (login_name, pwd, pwd_salt, real_name, phone, main_company)
  VALUES ('alice', md5('s4lt' || 'wonderland'), 's4lt', 'Alice', '13800000001', 1);
INSERT INTO user_companies VALUES (1, 1), (1, 2);
-- Partner apps of the appkey dialect (apps_query). The secret column holds
-- an argon2id or bcrypt hash, never the secret: make one with
-- `gateway hash-secret`. partner-1's secret is partner-secret.
CREATE TABLE partner_apps (
  app_code    VARCHAR(64) PRIMARY KEY,
  access_key  TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  active      BOOLEAN NOT NULL DEFAULT true,
  operator_id BIGINT,
  org_id      BIGINT,
  org_name    TEXT,
  org_type    VARCHAR(16) NOT NULL,  -- CHANNEL, SERVICE or SAAS
  product_id  BIGINT
);
INSERT INTO partner_apps (app_code, access_key, secret_hash, active, operator_id, org_id, org_name, org_type, product_id)
  VALUES ('partner-1', 'partner-1-key', '$argon2id$v=19$m=19456,t=2,p=1$Cl8lzS6H0STyWxWZAw3dxA$aRnxxyzxNRjyvFwuVNeoisfSDvbTFbkt0wWvN9Udkec', true, 9001, 501, 'Partner Org', 'SAAS', 701);
