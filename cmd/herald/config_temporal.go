package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/worker"
)

// TemporalConn is how `herald api` and `herald worker` reach an external
// Temporal beyond its address: TLS (Temporal Cloud, or a self-hosted
// cluster with mTLS), an API key, and whether Herald may register its own
// search attributes.
type TemporalConn struct {
	// TLS is nil when Herald was not asked for TLS. An API key alone still
	// turns TLS on (with the system's roots): the SDK does that itself.
	TLS *tls.Config
	// TLSDisabled forces plaintext even with an API key
	// (HERALD_TEMPORAL_TLS=false), for a local server behind a proxy.
	TLSDisabled bool
	APIKey      string
	// RegisterSearchAttributes lets a start add Herald's search attributes
	// to the namespace when they are missing, instead of stopping.
	RegisterSearchAttributes bool
}

// WorkerTuning sizes the Temporal worker. The defaults are worker's, for
// deliveries that are I/O bound on a small machine.
type WorkerTuning struct {
	WorkflowTasks   int  // workflow tasks at once (a task holds its slot while its first attempts POST)
	LocalActivities int  // local activities (attempts, store calls) at once
	Pollers         int  // long polls for workflow tasks
	EagerStart      bool // `herald api` runs a worker of its own and starts event workflows on it
	DrainMax        int  // deliveries one drain of an ordered lane makes at most
}

// loadTemporalConn reads the HERALD_TEMPORAL_TLS* and API key settings. It
// loads the files now, so that a wrong path or a bad PEM stops the start
// with the variable's name instead of failing every connection later.
func loadTemporalConn(getenv func(string) string, check func(error)) TemporalConn {
	var c TemporalConn
	mode := or(getenv("HERALD_TEMPORAL_TLS"), "auto")
	certFile, keyFile := getenv("HERALD_TEMPORAL_TLS_CERT"), getenv("HERALD_TEMPORAL_TLS_KEY")
	caFile, serverName := getenv("HERALD_TEMPORAL_TLS_CA"), getenv("HERALD_TEMPORAL_TLS_SERVER_NAME")
	c.APIKey = getenv("HERALD_TEMPORAL_API_KEY")
	var err error
	c.RegisterSearchAttributes, err = parseBool(or(getenv("HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES"), "false"))
	check(wrapVar("HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES", err))

	tlsSettings := certFile != "" || keyFile != "" || caFile != "" || serverName != ""
	switch mode {
	case "auto", "true":
	case "false":
		if tlsSettings {
			check(errors.New("HERALD_TEMPORAL_TLS: false, but TLS files or a server name are set (HERALD_TEMPORAL_TLS_CERT, _KEY, _CA, _SERVER_NAME)"))
		}
		c.TLSDisabled = true
		return c
	default:
		check(fmt.Errorf("HERALD_TEMPORAL_TLS: %q is not auto, true or false", mode))
		return c
	}
	if (certFile == "") != (keyFile == "") {
		check(errors.New("HERALD_TEMPORAL_TLS_CERT and HERALD_TEMPORAL_TLS_KEY go together: set both or neither"))
		return c
	}
	if mode != "true" && !tlsSettings {
		return c
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			check(fmt.Errorf("HERALD_TEMPORAL_TLS_CERT/HERALD_TEMPORAL_TLS_KEY: %w", err))
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		switch {
		case err != nil:
			check(fmt.Errorf("HERALD_TEMPORAL_TLS_CA: %w", err))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				check(fmt.Errorf("HERALD_TEMPORAL_TLS_CA: %s holds no PEM certificate", caFile))
			}
			conf.RootCAs = pool
		}
	}
	c.TLS = conf
	return c
}

// loadWorkerTuning reads the worker's sizes; `herald migrate` runs no worker.
func loadWorkerTuning(getenv func(string) string, m mode, check func(error)) WorkerTuning {
	if m == modeMigrate {
		return WorkerTuning{}
	}
	// The SDK's worker panics at 1 workflow task slot or 1 poller (one
	// each is kept for the sticky queue), so those start at 2.
	num := func(name string, def, least int) int {
		n, err := parsePositiveInt(or(getenv(name), strconv.Itoa(def)))
		if err == nil && n < least {
			err = fmt.Errorf("%d is below %d, the least it takes", n, least)
		}
		check(wrapVar(name, err))
		return n
	}
	w := WorkerTuning{
		WorkflowTasks:   num("HERALD_WORKER_WORKFLOW_TASKS", worker.DefaultWorkflowTasks, 2),
		LocalActivities: num("HERALD_WORKER_LOCAL_ACTIVITIES", worker.DefaultLocalActivities, 1),
		Pollers:         num("HERALD_WORKER_POLLERS", worker.DefaultWorkflowTaskPollers, 2),
		EagerStart:      true,
	}
	// A drain chooses its heir from half its limit on, so that half is at
	// least one delivery.
	w.DrainMax = num("HERALD_LANE_DRAIN_MAX", activities.DefaultDrainMax, 2)
	if m == modeAPI {
		var err error
		w.EagerStart, err = parseBool(or(getenv("HERALD_EAGER_START"), "true"))
		check(wrapVar("HERALD_EAGER_START", err))
	}
	return w
}

func (w WorkerTuning) options() worker.Options {
	return worker.Options{
		WorkflowTasks:       w.WorkflowTasks,
		LocalActivities:     w.LocalActivities,
		WorkflowTaskPollers: w.Pollers,
	}
}
