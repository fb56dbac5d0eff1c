-- The history as SQLite's schema version 3 has it (see store.go): the
-- whole call as JSON, plus the columns the history page filters and
-- sorts on. Times are Unix nanoseconds. The text the store sorts or
-- compares with LIKE is in the "C" collation, so that the order of ids
-- and the matches of a search are byte for byte SQLite's, whatever
-- locale the database was made with.
CREATE TABLE calls (
	id          TEXT COLLATE "C" NOT NULL,
	started     BIGINT NOT NULL,
	source      TEXT COLLATE "C" NOT NULL,
	direction   TEXT NOT NULL,
	reason      TEXT NOT NULL,
	answered    BIGINT,
	ended       BIGINT NOT NULL,
	from_number TEXT COLLATE "C" NOT NULL,
	from_name   TEXT NOT NULL,
	to_number   TEXT COLLATE "C" NOT NULL,
	to_name     TEXT NOT NULL,
	call        TEXT NOT NULL,
	from_key    TEXT COLLATE "C" NOT NULL DEFAULT '',
	from_digits TEXT COLLATE "C" NOT NULL DEFAULT '',
	to_key      TEXT COLLATE "C" NOT NULL DEFAULT '',
	to_digits   TEXT COLLATE "C" NOT NULL DEFAULT '',
	PRIMARY KEY (id, started)
);
CREATE INDEX calls_by_start ON calls (started DESC);
CREATE INDEX calls_by_source ON calls (source, started DESC);

CREATE TABLE active_calls (
	id      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	started BIGINT NOT NULL,
	source  TEXT COLLATE "C" NOT NULL,
	at      BIGINT NOT NULL,
	call    TEXT NOT NULL
);

CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value BIGINT NOT NULL
);

CREATE TABLE settings (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);
