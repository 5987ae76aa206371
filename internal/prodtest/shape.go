package prodtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/herald-hq/herald/internal/netcut"
)

// Options say how to run the shape.
type Options struct {
	// Herald is the herald executable; HeraldEnv is added to the
	// environment of every herald process (settings, or a test binary's
	// switch to act as herald).
	Herald    string
	HeraldEnv []string
	// Workers is how many `herald worker` processes run (default 2).
	Workers int
	// AdminURL is a Postgres URL whose user may create databases (default
	// HERALD_TEST_DATABASE_URL, else the local test database).
	AdminURL string
	// Dir holds the server's config and every process's log (required).
	Dir       string
	Namespace string // default "default"
	Token     string // the API token (default "prodtest-token")
	Logf      func(string, ...any)
	// CuttableDatabase puts a proxy between Herald's processes and
	// Postgres (Shape.DatabaseLink), which a test can cut to take the
	// database away from them. Temporal's server and the test itself
	// connect directly.
	CuttableDatabase bool
}

// Shape is Herald in production shape, running.
type Shape struct {
	Temporal    *Temporal
	API         *Proc
	Workers     []*Proc
	DatabaseURL string // Herald's database, reached directly
	Token       string
	// DatabaseLink is the proxy Herald's processes reach Postgres through,
	// with Options.CuttableDatabase; else nil.
	DatabaseLink *netcut.Proxy

	opts      Options
	pg        *postgres
	heraldDB  string
	heraldDSN string // DatabaseURL as Herald's processes reach it
}

// Start builds what is missing and starts the shape, in the order of the
// package comment. On error, whatever started is stopped again.
func Start(ctx context.Context, opts Options) (s *Shape, err error) {
	if opts.Dir == "" || opts.Herald == "" {
		return nil, errors.New("prodtest: Options.Dir and Options.Herald are required")
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Token == "" {
		opts.Token = "prodtest-token"
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.AdminURL == "" {
		opts.AdminURL = os.Getenv("HERALD_TEST_DATABASE_URL")
	}
	if opts.AdminURL == "" {
		opts.AdminURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	pg, err := newPostgres(opts.AdminURL)
	if err != nil {
		return nil, err
	}
	bin, err := Build(ctx, opts.Logf)
	if err != nil {
		return nil, err
	}
	s = &Shape{opts: opts, pg: pg, Token: opts.Token}
	defer func() {
		if err != nil {
			s.Stop(context.Background())
		}
	}()
	if s.Temporal, err = startTemporal(ctx, bin, pg, opts.Dir, opts.Namespace, opts.Logf); err != nil {
		return s, err
	}

	s.heraldDB = randomName("herald_prodtest")
	if err := pg.createDatabase(ctx, s.heraldDB); err != nil {
		return s, err
	}
	s.DatabaseURL = pg.dsn(s.heraldDB)
	s.heraldDSN = s.DatabaseURL
	if opts.CuttableDatabase {
		if s.DatabaseLink, err = netcut.New(net.JoinHostPort(pg.host, pg.port)); err != nil {
			return s, err
		}
		u, err := url.Parse(s.DatabaseURL)
		if err != nil {
			return s, err
		}
		u.Host = s.DatabaseLink.Addr()
		s.heraldDSN = u.String()
	}
	migrate := s.heraldProc("herald-migrate", "migrate", "")
	if err := migrate.Start(); err != nil {
		return s, err
	}
	if err := migrate.Wait(ctx); err != nil {
		return s, err
	}

	ports, err := freePorts(1 + opts.Workers)
	if err != nil {
		return s, err
	}
	s.API = s.heraldProc("herald-api", "api", "127.0.0.1:"+strconv.Itoa(ports[0]))
	if err := s.startReady(ctx, s.API); err != nil {
		return s, err
	}
	for i := range opts.Workers {
		w := s.heraldProc(fmt.Sprintf("herald-worker-%d", i+1), "worker", "127.0.0.1:"+strconv.Itoa(ports[1+i]))
		s.Workers = append(s.Workers, w)
		if err := s.startReady(ctx, w); err != nil {
			return s, err
		}
	}
	opts.Logf("prodtest: api at %s, %d workers, Temporal at %s", s.API.HTTPAddr, len(s.Workers), s.Temporal.Addr)
	return s, nil
}

// heraldProc is a herald command with the shape's settings.
func (s *Shape) heraldProc(name, command, httpAddr string) *Proc {
	env := append(os.Environ(),
		"HERALD_DATABASE_URL="+s.heraldDSN,
		"HERALD_TEMPORAL_ADDRESS="+s.Temporal.Addr,
		"HERALD_TEMPORAL_NAMESPACE="+s.opts.Namespace,
		"HERALD_API_TOKEN="+s.Token,
		"HERALD_ALLOW_PRIVATE_NETWORKS=true", // the tests' receivers are on 127.0.0.1
		"HERALD_LOG_LEVEL=warn",
	)
	if httpAddr != "" {
		env = append(env, "HERALD_HTTP_ADDR="+httpAddr)
	}
	env = append(env, s.opts.HeraldEnv...)
	p := newProc(name, s.opts.Herald, []string{command}, env, filepath.Join(s.opts.Dir, name+".log"))
	p.HTTPAddr = httpAddr
	return p
}

// startReady starts p and waits until its /readyz answers 200.
func (s *Shape) startReady(ctx context.Context, p *Proc) error {
	if err := p.Start(); err != nil {
		return err
	}
	return s.WaitReady(ctx, p)
}

// WaitReady waits until a herald process's /readyz answers 200.
func (s *Shape) WaitReady(ctx context.Context, p *Proc) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return p.WaitHTTP(ctx, "http://"+p.HTTPAddr+"/readyz")
}

// Restart starts a killed or stopped herald process again and waits until
// it is ready.
func (s *Shape) Restart(ctx context.Context, p *Proc) error {
	return s.startReady(ctx, p)
}

// APIURL is the base URL of the API.
func (s *Shape) APIURL() string { return "http://" + s.API.HTTPAddr }

// Procs are the herald processes, API first.
func (s *Shape) Procs() []*Proc {
	var out []*Proc
	if s.API != nil {
		out = append(out, s.API)
	}
	return append(out, s.Workers...)
}

// Stop stops the herald processes, then the Temporal server, and drops
// every database the shape made.
func (s *Shape) Stop(ctx context.Context) error {
	var errs []error
	for _, p := range s.Procs() {
		errs = append(errs, p.Stop(30*time.Second))
	}
	if s.Temporal != nil {
		errs = append(errs, s.Temporal.close(ctx))
	}
	if s.DatabaseLink != nil {
		s.DatabaseLink.Close()
	}
	if s.heraldDB != "" {
		errs = append(errs, s.pg.dropDatabase(ctx, s.heraldDB))
	}
	return errors.Join(errs...)
}
