// Command gateway runs authgate.
//
//	gateway [serve] [-config FILE]   run the gateway (default config.yaml)
//	gateway check-config [-config FILE]
//	gateway healthcheck [-config FILE | -url URL]
//	gateway hash-secret              read a secret on stdin, print its hash
//	gateway bov3-verify-header -key KEY   print a valid XverifyApi header
//	gateway version | help [COMMAND]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time zones for *time_zone keys, also on images without tzdata

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/dialects/bov3"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore/memstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// command is one subcommand: its flags (added to fs, read by run) and
// a line for the usage.
type command struct {
	name, args, summary string
	flags               func(fs *flag.FlagSet) func(invocation) int
}

// invocation is what a command runs with: the process's context (done on
// SIGTERM), streams and environment.
type invocation struct {
	context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
}

// commands are the subcommands, in the order the usage lists them.
var commands = []command{
	{"serve", "[-config FILE]", "run the gateway (the default command); SIGHUP reloads the config, SIGTERM drains and stops", func(fs *flag.FlagSet) func(invocation) int {
		path := fs.String("config", "config.yaml", "configuration file")
		return func(c invocation) int { return serve(c, *path, c.stderr, c.environ) }
	}},
	{"check-config", "[-config FILE]", "validate the configuration; exit 1 listing every problem, 0 with its warnings", func(fs *flag.FlagSet) func(invocation) int {
		path := fs.String("config", "config.yaml", "configuration file")
		return func(c invocation) int { return checkConfig(*path, c.stdout, c.stderr, c.environ) }
	}},
	{"healthcheck", "[-config FILE | -url URL] [-timeout 2s]", "exit 0 when the admin /readyz answers 200 (for Docker HEALTHCHECK)", func(fs *flag.FlagSet) func(invocation) int {
		path := fs.String("config", "config.yaml", "configuration file whose server.admin_listen to ask")
		url := fs.String("url", "", "the readiness URL to ask instead (http://127.0.0.1:9090/readyz)")
		timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the answer")
		return func(c invocation) int { return healthcheck(c, *path, *url, *timeout) }
	}},
	{"hash-secret", "[-token]", "read a secret on stdin, print an argon2id hash for the users or apps file (-token: the sha256: digest of an admin token)", func(fs *flag.FlagSet) func(invocation) int {
		token := fs.Bool("token", false, "print the sha256: digest of a random bearer token (admin.tokens[].hash), not a password hash")
		return func(c invocation) int { return hashSecret(c.stdin, c.stdout, c.stderr, *token) }
	}},
	{"admin-token", "", "print a new random admin token and, on the next line, its sha256: digest for admin.tokens[].hash", func(*flag.FlagSet) func(invocation) int {
		return func(c invocation) int { return adminToken(c.stdout, c.stderr) }
	}},
	{"bov3-verify-header", "-key KEY [-mode ecb|cbc] [-iv IV] [-encoding base64|hex] [-timestamp=false]", "print a fresh XverifyApi header (DES of a new GUID|unix ms)", verifyHeaderFlags},
	{"version", "", "print the version (also --version)", func(*flag.FlagSet) func(invocation) int {
		return func(c invocation) int { fmt.Fprintln(c.stdout, "authgate", version); return 0 }
	}},
	{"help", "[COMMAND]", "print this, or a command's flags (also -h, --help)", nil},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: gateway [COMMAND] [FLAGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-20s %s\n", c.name, c.summary)
		if c.args != "" {
			fmt.Fprintf(&b, "  %-20s   gateway %s %s\n", "", c.name, c.args)
		}
	}
	b.WriteString("\nconfig keys can be set from the environment: AUTHGATE_CFG__SERVER__LISTEN=:8080 (docs/configuration.md, \"Environment overrides\"; every key: docs/config-reference.md)\n")
	return b.String()
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flagSet builds c's flags; run reads them once parsed.
func flagSet(c command, stderr io.Writer) (*flag.FlagSet, func(invocation) int) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs, c.flags(fs)
}

// run is main without the process: tests call it with their own streams.
// Exit codes: 0 done, 1 the command failed, 2 the command line is wrong.
func run(cx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	switch {
	case len(args) > 0 && name == "serve" && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
		name, args = "help", nil
	case len(args) > 0 && name == "serve" && args[0] == "--version":
		name, args = "version", nil
	}
	if name == "help" {
		return help(args, stdout, stderr)
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "gateway: unknown command %q\n\n%s", name, usage())
		return 2
	}
	fs, runCmd := flagSet(c, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return help([]string{name}, stdout, stderr)
		}
		fmt.Fprintf(stderr, "\n%s", commandUsage(c))
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway %s: unexpected arguments %v\n\n%s", name, fs.Args(), commandUsage(c))
		return 2
	}
	return runCmd(invocation{Context: cx, stdin: stdin, stdout: stdout, stderr: stderr, environ: environ})
}

// commandUsage is one command's line and its flags.
func commandUsage(c command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: gateway %s %s\n  %s\n", c.name, c.args, c.summary)
	if c.flags != nil {
		fs, _ := flagSet(c, io.Discard)
		fs.SetOutput(&b)
		if hasFlags(fs) {
			b.WriteString("\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return b.String()
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// help prints the usage, or one command's.
func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage())
		return 0
	}
	c, ok := lookup(args[0])
	if !ok || len(args) > 1 {
		fmt.Fprintf(stderr, "gateway help: unknown command %q\n\n%s", strings.Join(args, " "), usage())
		return 2
	}
	fmt.Fprint(stdout, commandUsage(c))
	return 0
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
// it; a *config.ConfigError lists problems.
func build(cfg *config.Config, environ []string, log *slog.Logger) (*gateway.Gateway, error) {
	lookup := lookupIn(environ)
	store, err := backend.OpenStore(cfg, lookup, nil)
	if err != nil {
		return nil, err
	}
	return gateway.New(cfg, gateway.Options{Registry: builtin.Registry(), Logger: log, LookupEnv: lookup, Store: store})
}

func checkConfig(path string, stdout, stderr io.Writer, environ []string) int {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, err := config.Load(path, environ)
	var g *gateway.Gateway
	if err == nil {
		g, err = build(cfg, environ, quiet)
	} else if ce := (*config.ConfigError)(nil); cfg != nil && errors.As(err, &ce) {
		// The dialect blocks are checked too, so one run lists every problem.
		ce.Problems = append(ce.Problems, gateway.CheckDialects(cfg, gateway.Options{
			Registry: builtin.Registry(), Logger: quiet, LookupEnv: lookupIn(environ), Store: memstore.New(nil),
		})...)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}
	for _, w := range g.Warnings() {
		fmt.Fprintf(stdout, "%s: warning: %s\n", path, w)
	}
	_ = g.Close()
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

func serve(ctx context.Context, path string, stderr io.Writer, environ []string) int {
	level := new(slog.LevelVar)
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := config.Load(path, environ)
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
	for _, w := range g.Warnings() {
		log.Warn("config warning", "config", path, "warning", w)
	}
	// SIGHUP reloads the config (and the files it names) without a
	// restart; so does a change, when server.config_watch_interval is set.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the config", "config", path)
				_ = g.Reload(path, environ)
			}
		}
	}()
	if every := cfg.Server.ConfigWatchInterval; every > 0 {
		go g.WatchConfig(ctx, path, environ, every)
	}
	if err := g.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("gateway stopped", "err", err)
		return 1
	}
	log.Info("gateway stopped")
	return 0
}

// adminToken prints a fresh admin token and its digest: the token goes to
// the operator, the digest into admin.tokens[].hash.
func adminToken(stdout, stderr io.Writer) int {
	tok, err := identity.NewToken()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintln(stdout, identity.DigestToken(tok))
	return 0
}

func hashSecret(stdin io.Reader, stdout, stderr io.Writer, token bool) int {
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
	if token {
		if len(secret) < 32 {
			fmt.Fprintln(stderr, "an admin token must be random and at least 32 characters: make one with gateway admin-token")
			return 1
		}
		fmt.Fprintln(stdout, identity.DigestToken(secret))
		return 0
	}
	h, err := identity.HashSecret(secret)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// verifyHeaderFlags prints an XverifyApi header the way the legacy front
// end builds one: encryptByDES(newGuid() + "|" + Date.now()).
func verifyHeaderFlags(fs *flag.FlagSet) func(invocation) int {
	key := fs.String("key", "", "the 8-byte DES key (the dialect's verify_api.key)")
	mode := fs.String("mode", "ecb", "ecb or cbc")
	iv := fs.String("iv", "", "the 8-byte IV, for cbc")
	encoding := fs.String("encoding", "base64", "base64 or hex")
	withTS := fs.Bool("timestamp", true, "append |<unix ms> after the GUID")
	return func(c invocation) int {
		vc, err := bov3.NewVerifyCipher([]byte(*key), *mode, []byte(*iv), *encoding)
		if err != nil {
			fmt.Fprintln(c.stderr, "bov3-verify-header:", err)
			return 2
		}
		plain := bov3.NewGUID()
		if *withTS {
			plain += "|" + strconv.FormatInt(time.Now().UnixMilli(), 10)
		}
		fmt.Fprintln(c.stdout, vc.Encrypt(plain))
		return 0
	}
}

// healthcheck asks the admin listener's /readyz (from the config's
// server.admin_listen, or url) and exits 0 only on a 200: Docker's
// HEALTHCHECK for an image without a shell or curl.
func healthcheck(c invocation, path, url string, timeout time.Duration) int {
	if url == "" {
		cfg, err := config.Load(path, c.environ)
		if err != nil {
			fmt.Fprintf(c.stderr, "healthcheck: %s: %v\n", path, err)
			return 1
		}
		url = "http://" + dialable(cfg.Server.AdminListen) + "/readyz"
	}
	hc := &http.Client{Timeout: timeout}
	resp, err := hc.Get(url)
	if err != nil {
		fmt.Fprintf(c.stderr, "healthcheck: %s: %v\n", url, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(c.stderr, "healthcheck: %s answered %d\n", url, resp.StatusCode)
		return 1
	}
	return 0
}

// dialable turns a listen address into one to dial: ":9090" and
// "0.0.0.0:9090" are reached on loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
