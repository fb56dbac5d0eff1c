package history

import "fmt"

// Config is the history: section of the configuration: which database
// the call history (and the web server's sign-ins beside it) is kept in.
type Config struct {
	// Driver is sqlite (the default: history.db in data_dir) or postgres.
	Driver Driver `yaml:"driver"`
	// DSN is the PostgreSQL database to use with driver postgres, a URL
	// (postgres://switchboard@db.example/switchboard) or key=value pairs
	// as libpq reads them; "${PG_DSN}" keeps its password out of the
	// file.
	DSN string `yaml:"dsn"`
}

// Validate checks the driver and its DSN; errors wrap ErrBadConfig.
func (c Config) Validate() error {
	switch c.Driver {
	case "", SQLite:
		if c.DSN != "" {
			return fmt.Errorf("%w: dsn set without driver postgres (the SQLite history is history.db in data_dir)", ErrBadConfig)
		}
	case Postgres:
		if c.DSN == "" {
			return fmt.Errorf("%w: driver postgres needs a dsn (postgres://user@host/database, or \"${PG_DSN}\")", ErrBadConfig)
		}
	default:
		return fmt.Errorf("%w: driver %q: want sqlite or postgres", ErrBadConfig, c.Driver)
	}
	return nil
}
