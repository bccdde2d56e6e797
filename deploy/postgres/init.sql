-- Runs once, when the postgres container initialises an empty data directory
-- (/docker-entrypoint-initdb.d). One database per service: no service reads another's tables.
-- The role `xieshang` is created by the image from POSTGRES_USER/POSTGRES_PASSWORD.
CREATE DATABASE intake   OWNER xieshang;
CREATE DATABASE meetings OWNER xieshang;
CREATE DATABASE tracking OWNER xieshang;
CREATE DATABASE notify   OWNER xieshang;
CREATE DATABASE gateway  OWNER xieshang;
