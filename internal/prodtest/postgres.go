package prodtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strings"

	_ "github.com/lib/pq" // Postgres driver for creating and dropping the databases
)

// postgres is the server the shape's databases are made on, reached as a
// user allowed to create databases.
type postgres struct {
	admin    *url.URL
	host     string
	port     string
	user     string
	password string
}

func newPostgres(adminURL string) (*postgres, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("prodtest: %q is not a postgres:// URL", adminURL)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, "5432"
	}
	pw, _ := u.User.Password()
	return &postgres{admin: u, host: host, port: port, user: u.User.Username(), password: pw}, nil
}

// dsn is the URL of database name on the same server, as the same user.
func (p *postgres) dsn(name string) string {
	u := *p.admin
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// randomName is a fresh database name, so that runs never share state.
func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func (p *postgres) exec(ctx context.Context, stmt string) error {
	db, err := sql.Open("postgres", p.admin.String())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func (p *postgres) createDatabase(ctx context.Context, name string) error {
	if err := p.exec(ctx, "CREATE DATABASE "+quoteIdent(name)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops name, ending its sessions first (a killed process may
// have left some).
func (p *postgres) dropDatabase(ctx context.Context, name string) error {
	if err := p.exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
