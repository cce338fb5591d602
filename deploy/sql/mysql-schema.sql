-- An example legacy user schema for MySQL/MariaDB, the kind the sql
-- directory reads (deploy/sql/config.mysql.yaml names these tables).
-- Passwords are legacy md5(salt + password) digests until a login upgrades
-- them to argon2id (upgrade_hashes: true).
CREATE TABLE users (
  id           BIGINT AUTO_INCREMENT PRIMARY KEY,
  login_name   VARCHAR(64) NOT NULL UNIQUE,
  pwd          VARCHAR(255),
  pwd_salt     VARCHAR(64),
  real_name    VARCHAR(64),
  nick         VARCHAR(64),
  phone        VARCHAR(32) UNIQUE,   -- the arbiter of concurrent first SMS logins
  avatar       VARCHAR(255),
  main_company BIGINT,
  reg_source   VARCHAR(32),
  created_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE user_companies (
  user_id    BIGINT NOT NULL,
  company_id BIGINT NOT NULL,
  PRIMARY KEY (user_id, company_id)
);
-- alice / wonderland, a legacy digest: md5(concat('s4lt', 'wonderland'))
INSERT INTO users (login_name, pwd, pwd_salt, real_name, phone, main_company)
  VALUES ('alice', md5(concat('s4lt', 'wonderland')), 's4lt', 'Alice', '13800000001', 1);
INSERT INTO user_companies VALUES (1, 1), (1, 2);
-- Partner apps of the appkey dialect (apps_query). The secret column holds
-- an argon2id or bcrypt hash, never the secret: make one with
-- `gateway hash-secret`. partner-1's secret is partner-secret.
CREATE TABLE partner_apps (
  app_code    VARCHAR(64) PRIMARY KEY,
  access_key  VARCHAR(255) NOT NULL,
  secret_hash VARCHAR(255) NOT NULL,
  active      TINYINT(1) NOT NULL DEFAULT 1,
  operator_id BIGINT,
  org_id      BIGINT,
  org_name    VARCHAR(255),
  org_type    VARCHAR(16) NOT NULL,  -- CHANNEL, SERVICE or SAAS
  product_id  BIGINT
);
INSERT INTO partner_apps (app_code, access_key, secret_hash, active, operator_id, org_id, org_name, org_type, product_id)
  VALUES ('partner-1', 'partner-1-key', '$argon2id$v=19$m=19456,t=2,p=1$Cl8lzS6H0STyWxWZAw3dxA$aRnxxyzxNRjyvFwuVNeoisfSDvbTFbkt0wWvN9Udkec', 1, 9001, 501, 'Partner Org', 'SAAS', 701);
