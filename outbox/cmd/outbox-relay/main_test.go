package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/b2b/backoffice/internal/dbtest"
)

func TestParkedAndRelease(t *testing.T) {
	db := dbtest.New(t, "orders")
	ctx := context.Background()
	res, err := db.ExecContext(ctx, "INSERT INTO outbox (uuid, payload, metadata, parked_at, last_error)"+
		" VALUES ('e1', '{}', '{\"event_type\":\"order.created\"}', UTC_TIMESTAMP(6), 'MessageTooLong')")
	if err != nil {
		t.Fatal(err)
	}
	off, _ := res.LastInsertId()
	if _, err := db.ExecContext(ctx, "INSERT INTO outbox_failures VALUES (?, 'e1', 5, 'MessageTooLong', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))", off); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string { return map[string]string{"DB_DSN": db.DSN, "DB_CONNECT_TIMEOUT": "2s"}[k] }
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, env, &out)
		return out.String(), err
	}

	out, err := cmd("parked")
	var p map[string]any
	if err != nil || json.Unmarshal([]byte(out), &p) != nil {
		t.Fatalf("parked = %q, %v", out, err)
	}
	if p["offset"] != float64(off) || p["event_id"] != "e1" || p["event_type"] != "order.created" || p["attempts"] != 5.0 || p["last_error"] != "MessageTooLong" {
		t.Errorf("parked = %v", p)
	}

	out, err = cmd("release", strconv.FormatInt(off, 10), "999999")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"offset":` + strconv.FormatInt(off, 10) + `,"released":true}` + "\n" + `{"offset":999999,"released":false}` + "\n"
	if out != want {
		t.Errorf("release = %q, want %q", out, want)
	}
	var parked, failures int
	db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE parked_at IS NOT NULL OR last_error IS NOT NULL").Scan(&parked)
	db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox_failures").Scan(&failures)
	if parked != 0 || failures != 0 {
		t.Errorf("after release: %d parked rows, %d failure rows; want 0 and 0", parked, failures)
	}
	if out, _ := cmd("parked"); out != "" {
		t.Errorf("parked after release = %q, want nothing", out)
	}

	for _, args := range [][]string{{"release"}, {"release", "x"}, {"release", "-1"}, {"parked", "1"}, {"frobnicate"}} {
		if _, err := cmd(args...); err == nil || !strings.Contains(err.Error(), args[0]) && !strings.Contains(err.Error(), "usage") {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}
