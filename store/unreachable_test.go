package store_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// TestUnreachableTellsDownFromWrong: errors of a database that is down or
// out of room are a dependency's (503); errors of the request or of Herald
// are not.
func TestUnreachableTellsDownFromWrong(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("begin: %w", driver.ErrBadConn), true},
		{fmt.Errorf("get app: %w", io.ErrUnexpectedEOF), true},
		{&pq.Error{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{&pq.Error{Code: "57P03", Message: "the database system is starting up"}, true},
		{&pq.Error{Code: "53300", Message: "sorry, too many clients already"}, true},
		{&pq.Error{Code: "08006", Message: "connection failure"}, true},
		{&pq.Error{Code: "23505", Message: "duplicate key value violates unique constraint"}, false},
		{&pq.Error{Code: "40P01", Message: "deadlock detected"}, false},
		{&pq.Error{Code: "57014", Message: "canceling statement due to user request"}, false},
		{schemas.E(schemas.KindNotFound, "app_not_found", "no app"), false},
		{errors.New("next seq: no rows"), false},
		{nil, false},
	} {
		if got := store.Unreachable(c.err); got != c.want {
			t.Errorf("Unreachable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestUnreachableSQLiteBusy: a SQLite file whose write lock another
// process holds past the busy timeout is busy for now, not broken.
func TestUnreachableSQLiteBusy(t *testing.T) {
	path := t.TempDir() + "/busy.db"
	holder, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	ctx := context.Background()
	if _, err := holder.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if err == nil || !store.Unreachable(err) {
		t.Fatalf("a write while another holds the lock: %v, want an error Unreachable says is busy", err)
	}
}
