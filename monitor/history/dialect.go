package history

import (
	"database/sql"
	"strconv"
	"strings"
)

// Driver names a database the history can be kept in.
type Driver string

// Drivers.
const (
	// SQLite is a file beside the server (modernc.org/sqlite): one node,
	// nothing to run. The default.
	SQLite Driver = "sqlite"
	// Postgres is a PostgreSQL database (github.com/jackc/pgx/v5), which
	// several nodes can share.
	Postgres Driver = "postgres"
)

// dialect is what differs between the drivers in the SQL the store
// sends. Every statement is written once, with ? placeholders and the
// SQL both databases read (ON CONFLICT … DO UPDATE, CAST, LIKE … ESCAPE,
// row values); rebind turns the placeholders into PostgreSQL's $1, $2.
type dialect struct {
	driver Driver
	// ilike is the operator of a case-insensitive LIKE: SQLite's LIKE
	// ignores the case of ASCII letters, PostgreSQL's does not.
	ilike string
	// readTx are the options of a transaction of several reads that must
	// agree (a page and its total): SQLite's transactions are snapshots
	// already, PostgreSQL's read-committed statements each see their own.
	readTx *sql.TxOptions
}

var (
	sqliteDialect   = dialect{driver: SQLite, ilike: "LIKE"}
	postgresDialect = dialect{driver: Postgres, ilike: "ILIKE",
		readTx: &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}}
)

// rebind returns q with its placeholders in the driver's form. The
// store's statements hold no ? in string literals, so every ? is a
// placeholder.
func (d dialect) rebind(q string) string {
	if d.driver != Postgres || !strings.Contains(q, "?") {
		return q
	}
	return Rebind(q)
}

// Rebind returns q with each ? placeholder numbered in PostgreSQL's form
// ($1, $2, …), in order. It is for statements with no ? inside string
// literals or comments, such as the ones the web server's sign-ins
// (web/sessiondb) send to the history's database.
func Rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
