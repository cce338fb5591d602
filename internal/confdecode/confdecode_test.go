package confdecode_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/confdecode"
)

type inner struct {
	Timeout time.Duration `koanf:"timeout"`
	N       int           `koanf:"n"`
}

type block struct {
	TTL    time.Duration `koanf:"access_ttl"`
	Limit  int64         `koanf:"login_limit"`
	On     bool          `koanf:"on"`
	Name   string        `koanf:"name"`
	SMS    inner         `koanf:"sms"`
	Routes []inner       `koanf:"routes"`
}

func TestEveryProblemByKeyInTheFilesWords(t *testing.T) {
	var b block
	got := confdecode.Decode(map[string]any{
		"access_ttl": 1800, "login_limit": "abc", "on": "maybe", "colour": "red", "name": "x",
		"sms":    map[string]any{"timeout": "5", "n": "q", "x": 1},
		"routes": []any{map[string]any{"timeout": 3, "y": 2}},
	}, &b)
	want := []string{
		`access_ttl: 1800 is a bare number, not a duration; write it with a unit, like "30s", "15m" or "24h"`,
		`colour: unknown key`,
		`login_limit: must be a whole number`,
		`on: must be true or false`,
		`routes[0].timeout: 3 is a bare number, not a duration; write it with a unit, like "30s", "15m" or "24h"`,
		`routes[0].y: unknown key`,
		`sms.n: must be a whole number`,
		`sms.timeout: "5" is not a duration; write it with a unit, like "30s", "15m" or "24h"`,
		`sms.x: unknown key`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%q\nwant\n%q", got, want)
	}
	if b.Name != "x" {
		t.Fatal("the good keys were not decoded")
	}
}

func TestDurationsWithAUnit(t *testing.T) {
	var b block
	if p := confdecode.Decode(map[string]any{"access_ttl": "30m", "sms": map[string]any{"timeout": " 5s"}}, &b); p != nil {
		t.Fatal(p)
	}
	if b.TTL != 30*time.Minute || b.SMS.Timeout != 5*time.Second {
		t.Fatalf("%+v", b)
	}
}
