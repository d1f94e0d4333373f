package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2b/backoffice/internal/config"
)

// AdminConfig says where a process without a public port (orders-worker, outbox-relay) serves
// /metrics and /health, and whether it also serves net/http/pprof.
type AdminConfig struct {
	// Addr is host:port. The defaults are on 127.0.0.1: pprof and metrics are for whoever runs the
	// machine, not for the network.
	Addr string
	// Pprof turns on /debug/pprof/.
	Pprof bool
}

// LoadAdminConfig reads the admin address from the variable addrVar (host:port, default def; an
// empty host means every interface, as containers need; port 0 any free port, logged in the "admin
// listening" line) and PPROF (true or false, default false).
func LoadAdminConfig(l *config.Loader, addrVar, def string) AdminConfig {
	c := AdminConfig{Addr: l.String(addrVar, def)}
	l.Check(addrVar, checkHostPort(c.Addr))
	switch v := strings.ToLower(l.String("PPROF", "false")); v {
	case "true", "false":
		c.Pprof = v == "true"
	default:
		l.Check("PPROF", fmt.Errorf("must be true or false, got %q", v))
	}
	return c
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port such as 127.0.0.1:9101, got %q", addr)
	}
	// Port 0 takes any free port (tests start processes that way; the address is logged).
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("must be host:port with a port from 0 to 65535, got %q", addr)
	}
	return nil
}

// AdminHandler serves GET /metrics from reg, /health through health, and, when withPprof is set, the
// net/http/pprof handlers under /debug/pprof/. It has its own mux: nothing is served from
// http.DefaultServeMux, where importing net/http/pprof also registers its handlers.
func AdminHandler(reg *prometheus.Registry, health http.Handler, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(reg))
	mux.Handle("GET /health", health)
	if withPprof {
		// Index also serves the named profiles: /debug/pprof/heap, goroutine, allocs, block, mutex...
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// StartAdmin listens on c.Addr and serves AdminHandler(reg, health, c.Pprof) there until ctx is done
// or stop is called. It returns once the address is bound, so a taken port fails the process's start;
// stop shuts the server down and waits for it. A server that fails later is logged: the process goes
// on without its admin port (Prometheus' up and the TargetDown alert show it).
func StartAdmin(ctx context.Context, c AdminConfig, reg *prometheus.Registry, health http.Handler, log *slog.Logger) (stop func(), err error) {
	l, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ServeAdmin(ctx, l, AdminHandler(reg, health, c.Pprof), log); err != nil {
			log.Error("admin listener stopped", "addr", l.Addr().String(), "error", err.Error())
		}
	}()
	return func() { cancel(); <-done }, nil
}

// adminWriteTimeout lets a CPU profile or trace run its default 30 s and more: pprof refuses a
// duration at or above the server's WriteTimeout. That is why ServeAdmin has its own server rather than
// web.Serve's (30 s).
const adminWriteTimeout = 5 * time.Minute

// ServeAdmin serves h (AdminHandler) on l until ctx is done, then shuts down gracefully. It returns nil
// after a shutdown and the server's error otherwise.
func ServeAdmin(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("admin listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// A profile or trace still running: stopping the process must not wait minutes for it.
		log.Warn("admin requests cut short at shutdown", "error", err.Error())
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
