package dbtest

import (
	"context"
	"database/sql"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Proxy is a TCP proxy in front of the test database server that a test takes down and brings back, to
// see what a service does while its database is unreachable, as during a restart: while it is down,
// its connections are cut and new ones are refused.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the server d lives on. DB returns a connection pool through it.
func (d *DB) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	cfg, err := mysql.ParseDSN(d.DSN)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{t: t, target: cfg.Addr, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() {
		p.Down()
		p.wg.Wait()
	})
	return p
}

// Addr is the address the proxy listens on (host:port), the same before and after Down and Up.
func (p *Proxy) Addr() string { return p.addr }

// DSN returns dsn with its address replaced by the proxy's.
func (p *Proxy) DSN(dsn string) string {
	p.t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	cfg.Addr = p.addr
	return cfg.FormatDSN()
}

// DB returns a connection pool to d's database through the proxy, closed when the test ends.
func (p *Proxy) DB(d *DB) *sql.DB {
	p.t.Helper()
	cfg, err := mysql.ParseDSN(p.DSN(d.DSN))
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	cfg.Timeout = 2 * time.Second
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	db := sql.OpenDB(c)
	p.t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		p.t.Fatalf("proxy: ping through %s: %v", p.addr, err)
	}
	return db
}

// Down stops listening and cuts every open connection: the database is unreachable from now on.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Up listens again on the same address.
func (p *Proxy) Up() {
	p.t.Helper()
	p.mu.Lock()
	up := p.ln != nil
	p.mu.Unlock()
	if up {
		return
	}
	var (
		ln  net.Listener
		err error
	)
	// The port was ours a moment ago; binding it again can only fail while the kernel still holds it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.pipe(c)
		}
	}()
}

// pipe copies between the client connection c and a new connection to the server until either ends or
// Down cuts both.
func (p *Proxy) pipe(c net.Conn) {
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	p.wg.Add(2)
	for _, dir := range [][2]net.Conn{{c, s}, {s, c}} {
		go func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			// Either side ending (or Down cutting it) ends both directions.
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}(dir[0], dir[1])
	}
}
