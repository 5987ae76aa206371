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
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // Postgres driver "postgres"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // SQLite driver "sqlite"

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
		s.db, err = sqlx.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
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
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	// The transaction's connection is free again when inTx returns: prepare
	// the statements it ran unprepared (see Store.stmt).
	defer s.preparePending(ctx)
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// q rebinds a query written with '?' placeholders for the dialect.
func (s *Store) q(query string) string {
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

func (s *Store) get(ctx context.Context, db querier, dest any, query string, args ...any) error {
	query = s.q(query)
	if st, done := s.stmt(ctx, db, query); st != nil {
		defer done()
		return badInput(st.GetContext(ctx, dest, args...))
	}
	return badInput(db.GetContext(ctx, dest, query, args...))
}

func (s *Store) sel(ctx context.Context, db querier, dest any, query string, args ...any) error {
	query = s.q(query)
	if st, done := s.stmt(ctx, db, query); st != nil {
		defer done()
		return badInput(st.SelectContext(ctx, dest, args...))
	}
	return badInput(db.SelectContext(ctx, dest, query, args...))
}

func (s *Store) exec(ctx context.Context, db querier, query string, args ...any) (int64, error) {
	query = s.q(query)
	var (
		res sql.Result
		err error
	)
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

// maxStmts caps the statement cache: queries with expanded IN lists make a
// text per list length, and past the cap queries run unprepared.
const maxStmts = 256

// stmtCache holds a prepared statement per distinct (rebound) query text,
// so that SQLite parses, and Postgres plans, each query once rather than on
// every call. database/sql prepares a statement again on each pool
// connection it meets; inside a transaction Tx.StmtxContext uses the one
// prepared on the transaction's connection, preparing it there if needed.
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[string]*sqlx.Stmt
	pending map[string]struct{} // missed inside a transaction, to prepare after it
	retired []*sqlx.Stmt        // dropped by reset, maybe still in use; closed by close
	closed  bool
}

func (c *stmtCache) lookup(query string) *sqlx.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// add caches st for query and returns the statement to use: st, the one
// another caller cached first, or nil when the cache is full or closed (st
// is then closed).
func (c *stmtCache) add(query string, st *sqlx.Stmt) *sqlx.Stmt {
	c.mu.Lock()
	var drop *sqlx.Stmt
	switch prev, ok := c.stmts[query]; {
	case ok:
		drop, st = st, prev
	case c.closed || len(c.stmts) >= maxStmts:
		drop, st = st, nil
	default:
		if c.stmts == nil {
			c.stmts = make(map[string]*sqlx.Stmt)
		}
		c.stmts[query] = st
	}
	c.mu.Unlock()
	if drop != nil {
		_ = drop.Close()
	}
	return st
}

// miss notes a query run unprepared inside a transaction.
func (c *stmtCache) miss(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.stmts)+len(c.pending) >= maxStmts {
		return
	}
	if c.pending == nil {
		c.pending = make(map[string]struct{})
	}
	c.pending[query] = struct{}{}
}

// takePending returns the queries noted by miss and forgets them.
func (c *stmtCache) takePending() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	qs := make([]string, 0, len(c.pending))
	for q := range c.pending {
		qs = append(qs, q)
	}
	clear(c.pending)
	return qs
}

// reset empties the cache. The statements may be in use: close closes them.
func (c *stmtCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		c.retired = append(c.retired, st)
	}
	clear(c.stmts)
	clear(c.pending)
}

// close closes every statement and stops caching.
func (c *stmtCache) close() {
	c.mu.Lock()
	sts := c.retired
	for _, st := range c.stmts {
		sts = append(sts, st)
	}
	c.stmts, c.pending, c.retired, c.closed = nil, nil, nil, true
	c.mu.Unlock()
	for _, st := range sts {
		_ = st.Close()
	}
}

// stmt returns the prepared statement for query (already rebound) on db,
// and a func to call when done with it; nil when query is to run
// unprepared. On the Store's DB or read pool a statement is prepared on
// first use. In a transaction the connection is the transaction's, and
// preparing on the DB would wait for another one: with SQLite's single
// connection, for ever. So a query not yet prepared runs unprepared there
// and is prepared when the transaction ends (inTx calls preparePending).
func (s *Store) stmt(ctx context.Context, db querier, query string) (*sqlx.Stmt, func()) {
	switch db := db.(type) {
	case *sqlx.DB:
		var c *stmtCache
		switch db {
		case s.db:
			c = &s.stmts
		case s.rdb:
			c = &s.rstmts
		default:
			return nil, nil
		}
		if st := c.lookup(query); st != nil {
			return st, func() {}
		}
		st, err := db.PreparexContext(ctx, query)
		if err != nil {
			// Run unprepared, for the error it would have given.
			return nil, nil
		}
		if st = c.add(query, st); st == nil {
			return nil, nil
		}
		return st, func() {}
	case *sqlx.Tx:
		st := s.stmts.lookup(query)
		if st == nil {
			s.stmts.miss(query)
			return nil, nil
		}
		txst := db.StmtxContext(ctx, st)
		return txst, func() { _ = txst.Close() }
	}
	return nil, nil
}

// preparePending prepares the queries that transactions ran unprepared.
func (s *Store) preparePending(ctx context.Context) {
	for _, query := range s.stmts.takePending() {
		if s.stmts.lookup(query) != nil {
			continue
		}
		st, err := s.db.PreparexContext(ctx, query)
		if err != nil {
			continue // noted again by the next miss
		}
		s.stmts.add(query, st)
	}
}

// in expands "IN (?)" for a slice argument and rebinds.
func (s *Store) in(query string, args ...any) (string, []any, error) {
	query, args, err := sqlx.In(query, args...)
	if err != nil {
		return "", nil, err
	}
	return s.q(query), args, nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
