// Command dbtool creates the service databases, applies their migrations and loads seed data.
//
//	dbtool migrate [customers|orders|reporting ...]
//	dbtool seed    [customers|orders|reporting ...]
//	dbtool setup   [customers|orders|reporting ...]   (migrate, then seed)
//
// It connects with the DB_* variables (DB_NAME is ignored: each database is named for its service).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/b2b/backoffice/db"
	"github.com/b2b/backoffice/internal/config"
	"github.com/b2b/backoffice/internal/logging"
	"github.com/b2b/backoffice/internal/sqldb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dbtool:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) >= 1 && args[0] == "setup" {
		if err := run(ctx, append([]string{"migrate"}, args[1:]...), getenv, stdout); err != nil {
			return err
		}
		return run(ctx, append([]string{"seed"}, args[1:]...), getenv, stdout)
	}
	if len(args) < 1 || (args[0] != "migrate" && args[0] != "seed") {
		return fmt.Errorf("usage: dbtool migrate|seed|setup [%v ...]", db.Names)
	}
	names := args[1:]
	if len(names) == 0 {
		names = db.Names
	}
	for _, n := range names {
		if !slices.Contains(db.Names, n) {
			return fmt.Errorf("unknown database %q (want one of %v)", n, db.Names)
		}
	}
	l := config.New(getenv)
	cfg := sqldb.LoadConfig(l, "")
	level := l.LogLevel()
	if err := l.Err(); err != nil {
		return err
	}
	log := logging.New(stdout, "dbtool", level)

	for _, name := range names {
		c := cfg
		if c.DSN != "" {
			mc, err := c.MySQL()
			if err != nil {
				return err
			}
			mc.DBName = name
			c.DSN = mc.FormatDSN()
		}
		c.Name = name
		if args[0] == "migrate" {
			if err := createDatabase(ctx, c, log, name); err != nil {
				return err
			}
		}
		conn, err := sqldb.Open(ctx, c, log)
		if err != nil {
			return err
		}
		if args[0] == "migrate" {
			err = db.Migrate(ctx, conn, name)
		} else {
			err = db.Seed(ctx, conn, name)
		}
		conn.Close()
		if err != nil {
			return err
		}
		log.Info(args[0]+" done", "database", name)
	}
	return nil
}

func createDatabase(ctx context.Context, c sqldb.Config, log interface {
	Info(string, ...any)
}, name string) error {
	server := c
	server.Name = ""
	if server.DSN != "" {
		mc, err := server.MySQL()
		if err != nil {
			return err
		}
		mc.DBName = ""
		server.DSN = mc.FormatDSN()
	}
	conn, err := sqldb.Open(ctx, server, logging.New(io.Discard, "dbtool", "error"))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	log.Info("database ready", "database", name)
	return nil
}
