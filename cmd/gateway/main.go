// Command gateway runs authgate.
//
//	gateway [serve] [-config FILE]   run the gateway (default config.yaml)
//	gateway check-config [-config FILE]
//	gateway hash-secret              read a secret on stdin, print its hash
//	gateway bov3-verify-header -key KEY   print a valid XverifyApi header
//	gateway version
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones for *time_zone keys, also on images without tzdata

	"github.com/authgate/authgate/dialects/bov3"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/openstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

const usage = `usage:
  gateway [serve] [-config FILE]        run the gateway (default config.yaml)
  gateway check-config [-config FILE]   validate the configuration; exit 1 listing every problem
  gateway hash-secret                   read a secret on stdin, print an argon2id hash for the users file
  gateway bov3-verify-header -key KEY [-mode ecb|cbc] [-iv IV] [-encoding base64|hex] [-timestamp=false]
                                        print a fresh XverifyApi header (DES of a new GUID|unix ms)
  gateway version                       print the version
`

// run is main without the process: tests call it with their own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "check-config":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		configPath := fs.String("config", "config.yaml", "configuration file")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "unexpected arguments: %v\n%s", fs.Args(), usage)
			return 2
		}
		if cmd == "check-config" {
			return checkConfig(*configPath, stdout, stderr, environ)
		}
		return serve(ctx, *configPath, stderr, environ)
	case "hash-secret":
		return hashSecret(stdin, stdout, stderr)
	case "bov3-verify-header":
		return verifyHeader(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "authgate", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", cmd, usage)
		return 2
	}
}

func lookupIn(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, kv := range environ {
			if k, v, ok := strings.Cut(kv, "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

// build opens the store a loaded config names and builds the gateway on
// it; a *gateway.ConfigError lists problems.
func build(cfg *gateway.Config, environ []string, log *slog.Logger) (*gateway.Gateway, error) {
	lookup := lookupIn(environ)
	store, err := openstore.Open(cfg, lookup, nil)
	if err != nil {
		return nil, err
	}
	return gateway.New(cfg, gateway.Options{Registry: builtin.Registry(), Logger: log, LookupEnv: lookup, Store: store})
}

func checkConfig(path string, stdout, stderr io.Writer, environ []string) int {
	cfg, err := gateway.Load(path, environ)
	var g *gateway.Gateway
	if err == nil {
		g, err = build(cfg, environ, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}
	_ = g.Close()
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

func serve(ctx context.Context, path string, stderr io.Writer, environ []string) int {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := gateway.Load(path, environ)
	if err != nil {
		log.Error("configuration refused", "config", path, "err", err)
		return 1
	}
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	redisstore.SetLogger(log)
	g, err := build(cfg, environ, log)
	if err != nil {
		log.Error("configuration refused", "config", path, "err", err)
		return 1
	}
	defer g.Close()
	if err := g.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("gateway stopped", "err", err)
		return 1
	}
	log.Info("gateway stopped")
	return 0
}

func hashSecret(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "read secret:", err)
		return 1
	}
	secret := strings.TrimRight(line, "\r\n")
	if secret == "" {
		fmt.Fprintln(stderr, "no secret on stdin (try: echo 'the-password' | gateway hash-secret)")
		return 1
	}
	h, err := identity.HashSecret(secret)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// verifyHeader prints an XverifyApi header the way the legacy front end
// builds one: encryptByDES(newGuid() + "|" + Date.now()).
func verifyHeader(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bov3-verify-header", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the 8-byte DES key (the dialect's verify_api.key)")
	mode := fs.String("mode", "ecb", "ecb or cbc")
	iv := fs.String("iv", "", "the 8-byte IV, for cbc")
	encoding := fs.String("encoding", "base64", "base64 or hex")
	withTS := fs.Bool("timestamp", true, "append |<unix ms> after the GUID")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := bov3.NewVerifyCipher([]byte(*key), *mode, []byte(*iv), *encoding)
	if err != nil {
		fmt.Fprintln(stderr, "bov3-verify-header:", err)
		return 2
	}
	plain := bov3.NewGUID()
	if *withTS {
		plain += "|" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	}
	fmt.Fprintln(stdout, c.Encrypt(plain))
	return 0
}
