// Package pgtest runs a throw-away PostgreSQL cluster for tests: Debian's
// server binaries (/usr/lib/postgresql/*/bin), a new cluster made with
// initdb in a temporary directory, listening only on a Unix socket in
// that directory (no TCP port at all), and one database per test. The
// machine's own clusters are never touched.
//
// The server runs as the test process's child (as the postgres user when
// the test runs as root, which initdb and the server refuse to run as),
// so a test that dies takes it with it; Stop, Start and Close are for
// tests of an outage and for the end.
//
// Use one cluster per test package, started by the first test that
// needs it and removed by TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
//
// and in a test, pg.Database(t) for a database of its own; it skips the
// test when the binaries are missing, unless SWITCHBOARD_E2E=require.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvE2E is the environment variable that, set to "require", turns a
// missing PostgreSQL into a failure instead of a skip (as in siptest).
const EnvE2E = "SWITCHBOARD_E2E"

// superuser is the cluster's superuser, whoever runs the server.
const superuser = "switchboard"

// ErrNoBinaries is why Start did not start: initdb or postgres is not
// installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found (apt-get install postgresql, or run testbed/install.sh)")

// Cluster is a running throw-away PostgreSQL cluster.
type Cluster struct {
	bin  string // the directory of initdb and postgres
	dir  string // everything of the cluster; removed by Close
	data string
	sock string // the directory of the Unix socket
	log  string
	cred *syscall.Credential // the postgres user's, when running as root

	mu   sync.Mutex
	proc *exec.Cmd
	done chan error // the server's exit, once it has been waited for
	n    atomic.Int64
}

// Bin returns the directory holding the newest installed PostgreSQL's
// initdb and postgres.
func Bin() (string, bool) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, true
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, true
		}
	}
	return "", false
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start makes a cluster in a new temporary directory and starts its
// server. Close stops it and removes the directory.
func Start(ctx context.Context) (*Cluster, error) {
	bin, ok := Bin()
	if !ok {
		return nil, ErrNoBinaries
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{bin: bin, dir: dir, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "run"), log: filepath.Join(dir, "server.log")}
	if err := c.setup(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// setup makes the directories, owned by the user the server runs as, and
// the cluster in them.
func (c *Cluster) setup(ctx context.Context) error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgtest: running as root needs the postgres user (Debian's postgresql package makes it): %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := os.Mkdir(c.sock, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if c.cred != nil {
		for _, d := range []string{c.dir, c.sock} {
			if err := os.Chown(d, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	// Trust on the socket only: nothing else can reach it (the directory
	// is the server user's alone, root aside). The C locale makes text
	// compare byte by byte, as SQLite does.
	cmd := c.command(ctx, "initdb", "-D", c.data, "-U", superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	return nil
}

// command is one of the cluster's binaries, run as the server's user.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...) //nolint:gosec // the binaries of the installed PostgreSQL
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Start starts the server (again, after Stop) and waits until it takes
// connections.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return nil
	}
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	// No TCP (listen_addresses empty): the socket in the cluster's own
	// directory is the only way in. fsync stays on: benchmarks measure
	// durable commits, as SQLite's synchronous=FULL.
	cmd := c.command(context.Background(), "postgres", "-D", c.data, "-k", c.sock, "-c", "listen_addresses=",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server's child processes leave with it when it is stopped; the
	// group lets Close be sure.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.proc, c.done = cmd, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, c.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-done:
			c.proc, c.done = nil, nil
			log, _ := os.ReadFile(c.log)
			return fmt.Errorf("pgtest: postgres exited: %w: %s", werr, log)
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("pgtest: postgres start: %w", ctx.Err()), c.kill())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("pgtest: postgres does not take connections: %w", err), c.kill())
		}
	}
}

// kill ends a server that did not come up, waits for it and returns
// its exit; c.mu held.
func (c *Cluster) kill() error {
	_ = syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
	err := <-c.done
	c.proc, c.done = nil, nil
	return err
}

// Stop stops the server (a fast shutdown: sessions are cut, nothing
// committed is lost), as an outage does; Start starts it again.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return nil
	}
	_ = c.proc.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case err = <-c.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
		err = <-c.done
	}
	c.proc, c.done = nil, nil
	if err != nil {
		return fmt.Errorf("pgtest: postgres stop: %w", err)
	}
	return nil
}

// Close stops the server and removes the cluster.
func (c *Cluster) Close() error {
	err := c.Stop()
	return errors.Join(err, os.RemoveAll(c.dir))
}

// SocketDir is the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.sock }

// DSN is the connection string of database db, as the superuser, over
// the socket.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=%s dbname=%s sslmode=disable", c.sock, superuser, db)
}

// NewDatabase makes a new empty database and returns its DSN.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.n.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.DSN(name), nil
}

// DropDatabase drops the database of dsn, cutting its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: drop database: %w", err)
	}
	return nil
}

// Shared is a cluster for a whole test package, started when a test
// first asks for it (so that a run of tests that need none starts none)
// and closed by Main.
type Shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Cluster returns the package's cluster, started on the first call. It
// skips t when PostgreSQL is not installed, or fails it when
// SWITCHBOARD_E2E=require; a cluster that does not start fails t.
func (sh *Shared) Cluster(t testing.TB) *Cluster {
	t.Helper()
	RequireBinaries(t)
	sh.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sh.c, sh.err = Start(ctx)
	})
	if sh.err != nil {
		t.Fatalf("PostgreSQL test cluster: %v", sh.err)
	}
	return sh.c
}

// RequireBinaries skips t when PostgreSQL is not installed, or fails it
// when SWITCHBOARD_E2E=require.
func RequireBinaries(t testing.TB) {
	t.Helper()
	if _, ok := Bin(); ok {
		return
	}
	msg := "PostgreSQL test needs " + ErrNoBinaries.Error()
	if os.Getenv(EnvE2E) == "require" {
		t.Fatalf("%s; failing because %s=require", msg, EnvE2E)
	}
	t.Skip(msg)
}

// Database returns the DSN of a new database of the package's cluster
// for t, dropped when t ends (see Cluster for when it skips).
func (sh *Shared) Database(t testing.TB) string {
	t.Helper()
	c := sh.Cluster(t)
	dsn, err := c.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DropDatabase(context.Background(), dsn); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	return dsn
}

// Main runs m and then removes the cluster sh started, if any. It
// returns m's exit code, for os.Exit in TestMain.
func Main(m *testing.M, sh *Shared) int {
	code := m.Run()
	if sh.c != nil {
		if err := sh.c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}
