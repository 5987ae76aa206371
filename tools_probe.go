//go:build probe

package main

import (
	_ "github.com/alecthomas/kong"
	_ "github.com/gofiber/fiber/v2"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/swaggest/swgui/v5emb"
	_ "github.com/temporalio/ui-server/v2/server"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/server/temporal"
	_ "modernc.org/sqlite"
	_ "github.com/pressly/goose/v3"
	_ "github.com/standard-webhooks/standard-webhooks/libraries/go"
)
