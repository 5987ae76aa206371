package store

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

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
