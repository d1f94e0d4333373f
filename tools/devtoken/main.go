// Command devtoken prints a signed HS256 access token for local use, made with AUTH_HS256_SECRET,
// AUTH_ISSUER and AUTH_AUDIENCE: the variables the services verify tokens with. By default the token
// is an operator's (dev-operator, every scope, 12 hours); flags change that.
//
//	export TOKEN=$(go run ./tools/devtoken -scopes "orders:read orders:write" -customer-id 1)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/b2b/backoffice/internal/auth"
	"github.com/b2b/backoffice/internal/config"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		// One line, so a script capturing stdout still shows at once what is wrong.
		fmt.Fprintln(os.Stderr, "devtoken:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by main in one line; -h prints the usage below
	sub := fs.String("sub", "dev-operator", "subject: the actor recorded for every change")
	scopes := fs.String("scopes", strings.Join(auth.AllScopes(), " "), "granted scopes, separated by spaces or commas; empty for none")
	customerID := fs.Int64("customer-id", 0, "bind the token to this customer's own integration (0: an operator token)")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: devtoken [flags]   (reads AUTH_HS256_SECRET, AUTH_ISSUER, AUTH_AUDIENCE)")
			fs.PrintDefaults()
			return nil
		}
		return fmt.Errorf("%w (devtoken -h lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (devtoken -h lists the flags)", fs.Arg(0))
	}

	l := config.New(getenv)
	cfg := auth.LoadConfig(l)
	switch {
	case cfg.HS256Secret == "": // before l.Err, which would ask for a JWKS URL as an alternative
		return errors.New("config: AUTH_HS256_SECRET is required to sign a dev token")
	case l.Err() != nil:
		return l.Err()
	case cfg.Issuer == "":
		return errors.New("config: AUTH_ISSUER is required")
	case cfg.Audience == "":
		return errors.New("config: AUTH_AUDIENCE is required")
	}

	granted := strings.FieldsFunc(*scopes, func(r rune) bool { return r == ' ' || r == ',' })
	for _, s := range granted {
		if !slices.Contains(auth.AllScopes(), s) {
			return fmt.Errorf("-scopes: unknown scope %q (known: %s)", s, strings.Join(auth.AllScopes(), " "))
		}
	}
	if *customerID < 0 {
		return fmt.Errorf("-customer-id must be a positive customer id, got %d", *customerID)
	}
	if *ttl <= 0 {
		return fmt.Errorf("-ttl must be positive, got %s", *ttl)
	}
	tok, err := auth.DevToken(cfg, auth.Principal{Subject: *sub, CustomerID: *customerID, Scopes: granted}, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
