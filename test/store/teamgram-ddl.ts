/**
 * Teamgram's DDL of its authsession tables (auth_keys, auth_key_infos, auths, auth_users), as an
 * existing Teamgram database has them: transcribed from teamgramd/deploy/sql/1_teamgram.sql (CREATE
 * TABLE, then the dump's ALTER TABLE keys and AUTO_INCREMENT), then the migrate-*.sql files that
 * change these tables. One multi-statement string (mysql2 with multipleStatements).
 */
export const TEAMGRAM_DDL = `
SET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";
SET time_zone = "+00:00";

CREATE TABLE \`auth_keys\` (
  \`id\` bigint(20) NOT NULL,
  \`auth_key_id\` bigint(20) NOT NULL,
  \`body\` varchar(512) NOT NULL,
  \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
  \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE \`auth_key_infos\` (
  \`id\` bigint(20) NOT NULL,
  \`auth_key_id\` bigint(20) NOT NULL,
  \`auth_key_type\` int(11) NOT NULL,
  \`perm_auth_key_id\` bigint(20) NOT NULL DEFAULT '0',
  \`temp_auth_key_id\` bigint(20) NOT NULL DEFAULT '0',
  \`media_temp_auth_key_id\` bigint(20) NOT NULL DEFAULT '0',
  \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
  \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  \`updated_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

ALTER TABLE \`auth_keys\`
  ADD PRIMARY KEY (\`id\`),
  ADD UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`);

ALTER TABLE \`auth_key_infos\`
  ADD PRIMARY KEY (\`id\`),
  ADD UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`);

ALTER TABLE \`auth_keys\`
  MODIFY \`id\` bigint(20) NOT NULL AUTO_INCREMENT, AUTO_INCREMENT=213484;

-- migrate-20220721.sql
ALTER TABLE \`auth_key_infos\` CHANGE \`id\` \`id\` BIGINT(20) NOT NULL AUTO_INCREMENT;

CREATE TABLE \`auths\` (
  \`id\` bigint(20) NOT NULL,
  \`auth_key_id\` bigint(20) NOT NULL,
  \`layer\` int(11) NOT NULL DEFAULT '0',
  \`api_id\` int(11) NOT NULL,
  \`device_model\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`system_version\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`app_version\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`system_lang_code\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`lang_pack\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`lang_code\` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`system_code\` varchar(256) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`proxy\` varchar(512) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`params\` json NOT NULL,
  \`client_ip\` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`date_active\` bigint(20) NOT NULL DEFAULT '0',
  \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
  \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  \`updated_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE \`auth_users\` (
  \`id\` bigint(20) NOT NULL,
  \`auth_key_id\` bigint(20) NOT NULL,
  \`user_id\` bigint(20) NOT NULL DEFAULT '0',
  \`hash\` bigint(20) NOT NULL DEFAULT '0',
  \`layer\` int(11) NOT NULL DEFAULT '0',
  \`device_model\` varchar(128) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`platform\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`system_version\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`api_id\` int(11) NOT NULL DEFAULT '0',
  \`app_name\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`app_version\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`date_created\` bigint(20) NOT NULL DEFAULT '0',
  \`date_actived\` bigint(20) NOT NULL DEFAULT '0',
  \`ip\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`country\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`region\` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT '',
  \`deleted\` tinyint(1) NOT NULL DEFAULT '0',
  \`created_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  \`updated_at\` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE \`auths\`
  ADD PRIMARY KEY (\`id\`),
  ADD UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`);
ALTER TABLE \`auths\`
  MODIFY \`id\` bigint(20) NOT NULL AUTO_INCREMENT, AUTO_INCREMENT=202910;
ALTER TABLE \`auth_users\`
  ADD PRIMARY KEY (\`id\`),
  ADD UNIQUE KEY \`auth_key_id\` (\`auth_key_id\`,\`user_id\`),
  ADD KEY \`auth_key_id_2\` (\`auth_key_id\`,\`user_id\`,\`deleted\`);
ALTER TABLE \`auth_users\`
  MODIFY \`id\` bigint(20) NOT NULL AUTO_INCREMENT, AUTO_INCREMENT=120061;

-- migrate-20221101.sql, migrate-20241105.sql, migrate-20241123.sql
ALTER TABLE \`auth_users\` ADD \`state\` INT NOT NULL DEFAULT '0' AFTER \`region\`;
ALTER TABLE \`auth_users\` ADD \`android_push_session_id\` BIGINT NOT NULL DEFAULT '0' AFTER \`state\`;
ALTER TABLE \`auth_users\` DROP \`layer\`, DROP \`device_model\`, DROP \`platform\`, DROP \`system_version\`, DROP \`api_id\`, DROP \`app_name\`, DROP \`app_version\`, DROP \`ip\`, DROP \`country\`, DROP \`region\`;
ALTER TABLE \`auth_users\` CHANGE \`date_actived\` \`date_active\` BIGINT NOT NULL DEFAULT '0';
`
