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
