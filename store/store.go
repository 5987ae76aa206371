// Package store keeps Herald's configuration (apps, event types, endpoints)
// and its queryable record (events, deliveries, attempts) in Postgres or, for
// `herald dev`, in a SQLite file. One implementation serves both: queries are
// written with '?' placeholders and rebound, and the few places where the SQL
// differs switch on the dialect.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"

	"github.com/herald-hq/herald/internal/pgdial"
	"github.com/herald-hq/herald/schemas"
)

// Dialects.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Store is Herald's database. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB
	// rdb serves plain reads outside transactions. On SQLite it is a
	// separate pool of query-only connections to the same file, which WAL
	// lets read beside db's one writer instead of queueing behind every
	// write transaction; on Postgres it is db.
	rdb     *sqlx.DB
	dialect string
	stmts   stmtCache // statements prepared on db
	rstmts  stmtCache // statements prepared on rdb when it is not db
	sealer  Sealer
	gate    *writeGate // SQLite: who writes next on db (gate.go)
	process string     // names the attempts this process notes in flight (processes.go); "" in herald dev
	beats   beats      // this process's own beats (processes.go)
	// ran, when set (by tests), is told each statement get, sel and exec run
	// (see q).
	ran func(query string)
}

// sqliteReaders is the size of the SQLite read pool: a few, as reads are
// short and the machine Herald dev runs on has few cores.
const sqliteReaders = 4

// Open connects to the database named by dsn: "postgres://..." or
// "postgresql://..." for Postgres; "sqlite:<path>" or a plain file path for
// SQLite. It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	var (
		s   = &Store{sealer: plainSealer{}}
		err error
	)
	for _, o := range opts {
		o(s)
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = DialectPostgres
		db, err := pgdial.Open(dsn) // a link that dies silently is noticed (internal/pgdial)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		s.db = sqlx.NewDb(db, "postgres")
		s.db.SetMaxOpenConns(32)
		s.db.SetMaxIdleConns(32)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
		s.rdb = s.db
	default:
		s.dialect = DialectSQLite
		if err := privateFile(sqlitePath(dsn)); err != nil {
			return nil, err
		}
		s.db, err = sqlx.Open("sqlite", sqliteDSN(dsn))
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// SQLite has one writer. One connection serializes every
		// transaction in the pool instead of failing with SQLITE_BUSY, and
		// keeps the per-connection pragmas in force for good.
		s.db.SetMaxOpenConns(1)
		s.db.SetMaxIdleConns(1)
		s.db.SetConnMaxLifetime(0)
		s.db.SetConnMaxIdleTime(0)
		s.gate = &writeGate{}
	}
	if err := s.Ping(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if s.rdb == nil && inMemory(dsn) {
		// Another connection to ":memory:" is another, empty database.
		s.rdb = s.db
	}
	if s.rdb == nil {
		// Opened after the writer's ping, which put the file in WAL mode
		// (the mode is kept in the file, so readers need not set it).
		s.rdb, err = sqlx.Open("sqlite", sqliteReadDSN(dsn))
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("open sqlite readers: %w", err)
		}
		s.rdb.SetMaxOpenConns(sqliteReaders)
		s.rdb.SetMaxIdleConns(sqliteReaders)
		s.rdb.SetConnMaxLifetime(0)
		s.rdb.SetConnMaxIdleTime(0)
		if err := s.rdb.PingContext(ctx); err != nil {
			s.rdb.Close()
			s.db.Close()
			return nil, &schemas.Error{Kind: schemas.KindUnavailable, Code: "database_unavailable",
				Message: "the database is unreachable", Err: err}
		}
	}
	return s, nil
}

// sqlitePath is the file a "sqlite:<path>" or "<path>" DSN names.
func sqlitePath(dsn string) string {
	path := strings.TrimPrefix(dsn, "sqlite:")
	path = strings.TrimPrefix(path, "//")
	path, _, _ = strings.Cut(path, "?")
	return strings.TrimPrefix(path, "file:")
}

// sqliteDSN turns "sqlite:<path>" or "<path>" into a modernc DSN with WAL,
// synchronous=NORMAL, a busy timeout and foreign keys on.
func sqliteDSN(dsn string) string {
	return sqliteDSNWith(dsn, "immediate",
		"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(5000)", "foreign_keys(1)")
}

// inMemory says whether a SQLite DSN names a database that lives in its
// connection, which no second pool can share.
func inMemory(dsn string) bool {
	return strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory")
}

// sqliteReadDSN is sqliteDSN for the read pool: query_only makes a write
// routed there by mistake fail instead of contending with the writer.
func sqliteReadDSN(dsn string) string {
	return sqliteDSNWith(dsn, "", "busy_timeout(5000)", "query_only(1)")
}

func sqliteDSNWith(dsn, txlock string, pragmas ...string) string {
	path := strings.TrimPrefix(dsn, "sqlite:")
	path = strings.TrimPrefix(path, "//")
	q := url.Values{}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		q, _ = url.ParseQuery(path[i+1:])
		path = path[:i]
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	if txlock != "" {
		q.Set("_txlock", txlock)
	}
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	return path + "?" + q.Encode()
}

// Dialect is "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Close closes the prepared statements and the database.
func (s *Store) Close() error {
	s.stmts.close()
	s.rstmts.close()
	if s.rdb != s.db {
		if err := s.rdb.Close(); err != nil {
			_ = s.db.Close()
			return err
		}
	}
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return &schemas.Error{Kind: schemas.KindUnavailable, Code: "database_unavailable",
			Message: "the database is unreachable", Err: err}
	}
	return nil
}

// Migrate applies the embedded migrations that are not applied yet. On
// Postgres concurrent callers serialize on an advisory lock (one per schema).
func (s *Store) Migrate(ctx context.Context) error {
	fsys, err := schemas.Migrations(s.dialect)
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
		var schema string
		if err := s.db.GetContext(ctx, &schema, "SELECT current_schema()"); err != nil {
			return fmt.Errorf("migrate: current schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("herald/" + schema))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)),
			lock.WithLockTimeout(1, 600),
		)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// Migrations are additive and independent of each other, so a database
	// that has a later one (a development build) still takes an earlier one
	// that arrived after it, instead of refusing to start.
	opts = append(opts, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	p, err := goose.NewProvider(dialect, s.db.DB, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	_, err = p.Up(ctx)
	// Statements prepared before the schema changed may describe old
	// columns (Postgres refuses a cached plan whose result type changed).
	s.stmts.reset()
	s.rstmts.reset()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// querier is what *sqlx.DB and *sqlx.Tx have in common.
type querier interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	if err := s.gate.acquire(ctx); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// The transaction's connection is free again when inTx returns: prepare
	// the statements it ran unprepared (see Store.stmt).
	defer s.preparePending(ctx)
	defer s.gate.release()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// gated takes the write gate for a statement run on db outside a
// transaction, and returns its release.
func (s *Store) gated(ctx context.Context, db querier) (func(), error) {
	if d, ok := db.(*sqlx.DB); !ok || d != s.db || s.gate == nil {
		return func() {}, nil
	}
	if err := s.gate.acquire(ctx); err != nil {
		return nil, err
	}
	return s.gate.release, nil
}

// q rebinds a query written with '?' placeholders for the dialect, as get,
// sel and exec are about to run it (and tells ran).
func (s *Store) q(query string) string {
	if s.ran != nil {
		s.ran(query)
	}
	if s.dialect == DialectPostgres {
		return sqlx.Rebind(sqlx.DOLLAR, query)
	}
	return query
}

// forUpdate locks the selected rows on Postgres; SQLite transactions
// (BEGIN IMMEDIATE) already hold the one write lock.
func (s *Store) forUpdate() string {
	if s.dialect == DialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// forKeyShare keeps the selected rows from being deleted (or their keys
// changed) until the transaction ends, on Postgres, without blocking
// updates of their other columns; SQLite transactions already hold the
// one write lock.
func (s *Store) forKeyShare() string {
	if s.dialect == DialectPostgres {
		return " FOR KEY SHARE"
	}
	return ""
}

// forNoKeyUpdate locks the selected rows as an update of their other
// columns does (a seq counter's, a failure streak's), on Postgres, and keeps
// them from deletion; SQLite transactions already hold the one write lock.
func (s *Store) forNoKeyUpdate() string {
	if s.dialect == DialectPostgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// inLockOrder is the order in which to lock the rows of items, by the key
// of each: every transaction that locks several takes them in one order, so
// that two of them on Postgres never wait for each other.
func inLockOrder[T any](items []T, key func(T) [3]string) []int {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := key(items[a]), key(items[b])
		for j := range ka {
			if c := strings.Compare(ka[j], kb[j]); c != 0 {
				return c
			}
		}
		return 0
	})
	return order
}

func (s *Store) get(ctx context.Context, db querier, dest any, query string, args ...any) error {
	release, err := s.gated(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	query = s.q(query)
	if st, done := s.stmt(ctx, db, query); st != nil {
		defer done()
		return badInput(st.GetContext(ctx, dest, args...))
	}
	return badInput(db.GetContext(ctx, dest, query, args...))
}

func (s *Store) sel(ctx context.Context, db querier, dest any, query string, args ...any) error {
	release, err := s.gated(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	query = s.q(query)
	if st, done := s.stmt(ctx, db, query); st != nil {
		defer done()
		return badInput(st.SelectContext(ctx, dest, args...))
	}
	return badInput(db.SelectContext(ctx, dest, query, args...))
}

func (s *Store) exec(ctx context.Context, db querier, query string, args ...any) (int64, error) {
	release, err := s.gated(ctx, db)
	if err != nil {
		return 0, err
	}
	defer release()
	query = s.q(query)
	var res sql.Result
	if st, done := s.stmt(ctx, db, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
		done()
	} else {
		res, err = db.ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, badInput(err)
	}
	return res.RowsAffected()
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
