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
