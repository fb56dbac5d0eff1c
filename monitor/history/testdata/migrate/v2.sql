-- A version 2 history database (before the numbers' searchable forms),
-- as Switchboard wrote it: its schema and four ended calls. The migration
-- test loads it and opens it with the current store.
BEGIN;
CREATE TABLE IF NOT EXISTS calls (
	id          TEXT    NOT NULL,
	started     INTEGER NOT NULL, -- Unix nanoseconds
	source      TEXT    NOT NULL,
	direction   TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	answered    INTEGER,          -- Unix nanoseconds; NULL when never answered
	ended       INTEGER NOT NULL,
	from_number TEXT    NOT NULL,
	from_name   TEXT    NOT NULL,
	to_number   TEXT    NOT NULL,
	to_name     TEXT    NOT NULL,
	call        TEXT    NOT NULL, -- the monitor.Call as JSON
	PRIMARY KEY (id, started)
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started DESC);
CREATE INDEX IF NOT EXISTS calls_by_source ON calls (source, started DESC);
CREATE TABLE IF NOT EXISTS active_calls (
	id      TEXT    NOT NULL PRIMARY KEY,
	started INTEGER NOT NULL, -- Unix nanoseconds
	source  TEXT    NOT NULL,
	at      INTEGER NOT NULL, -- Unix nanoseconds the hub published this state
	call    TEXT    NOT NULL  -- the monitor.Call as JSON
);
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT    NOT NULL PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO calls (id, started, source, direction, reason, answered, ended, from_number, from_name, to_number, to_name, call) VALUES ('home:0-1.1', 1795165200000000000, 'home', 'inbound', 'no-answer', NULL, 1795165240000000000, '01701234567', 'Erika Muster', '5551234', '', '{"id":"home:0-1.1","source":"home","direction":"inbound","state":"ended","from":{"number":"01701234567","name":"Erika Muster"},"to":{"number":"5551234"},"started":"2026-11-20T09:00:00Z","ended":"2026-11-20T09:00:40Z","reason":"no-answer"}');
INSERT INTO calls (id, started, source, direction, reason, answered, ended, from_number, from_name, to_number, to_name, call) VALUES ('pbx:1732000000.1', 1795168800000000000, 'pbx', 'inbound', 'completed', 1795168805000000000, 1795168980000000000, '+491701234567', '', '201', 'Reception', '{"id":"pbx:1732000000.1","source":"pbx","direction":"inbound","state":"ended","from":{"number":"+491701234567"},"to":{"number":"201","name":"Reception"},"started":"2026-11-20T10:00:00Z","answered":"2026-11-20T10:00:05Z","ended":"2026-11-20T10:03:00Z","reason":"completed"}');
INSERT INTO calls (id, started, source, direction, reason, answered, ended, from_number, from_name, to_number, to_name, call) VALUES ('pbx:1732000000.9', 1795172400000000000, 'pbx', 'outbound', 'completed', 1795172407000000000, 1795172700000000000, '202', '', '0049 30 1234567', '', '{"id":"pbx:1732000000.9","source":"pbx","direction":"outbound","state":"ended","from":{"number":"202"},"to":{"number":"0049 30 1234567"},"started":"2026-11-20T11:00:00Z","answered":"2026-11-20T11:00:07Z","ended":"2026-11-20T11:05:00Z","reason":"completed"}');
INSERT INTO calls (id, started, source, direction, reason, answered, ended, from_number, from_name, to_number, to_name, call) VALUES ('home:1-1.2', 1795176000000000000, 'home', 'inbound', 'no-answer', NULL, 1795176030000000000, '03017012345', '', '5551234', '', '{"id":"home:1-1.2","source":"home","direction":"inbound","state":"ended","from":{"number":"03017012345"},"to":{"number":"5551234"},"started":"2026-11-20T12:00:00Z","ended":"2026-11-20T12:00:30Z","reason":"no-answer"}');
INSERT INTO meta (key, value) VALUES ('run', 7);
PRAGMA user_version = 2;
COMMIT;
