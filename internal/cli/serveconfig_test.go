package cli

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// writeFile writes a file in a fresh temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveWith runs `strata serve args...` with env and returns the options
// the node would have started with.
func serveWith(t *testing.T, env map[string]string, args ...string) (ServeOptions, error) {
	t.Helper()
	var got ServeOptions
	run := func(_ context.Context, opts ServeOptions, _ *slog.Logger) error {
		got = opts
		return nil
	}
	_, _, err := execute(t, envOf(env), run, "", append([]string{"serve"}, args...)...)
	return got, err
}

const fullYAML = `data-dir: /yaml/data
listen: 127.0.0.1:1001
advertise: yaml.example:1001
admin: 127.0.0.1:2001
node-id: 7
log-level: warn
settings:
  num.partitions: 3
  auto.create.topics.enable: "false"
  log.retention.ms: "1000"
`

func TestServeOptionsPrecedence(t *testing.T) {
	yamlPath := writeFile(t, "strata.yaml", fullYAML)
	defaults := ServeOptions{
		DataDir: "./strata-data", Listen: "127.0.0.1:9092", Admin: "127.0.0.1:9644",
		LogLevel: "info", NodeID: 1, Settings: map[string]string{},
	}
	fromYAML := ServeOptions{
		DataDir: "/yaml/data", Listen: "127.0.0.1:1001", Advertise: "yaml.example:1001", Admin: "127.0.0.1:2001",
		LogLevel: "warn", NodeID: 7,
		Settings: map[string]string{"num.partitions": "3", "auto.create.topics.enable": "false", "log.retention.ms": "1000"},
	}
	with := func(base ServeOptions, change func(*ServeOptions)) ServeOptions {
		base.Settings = maps.Clone(base.Settings)
		change(&base)
		return base
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want ServeOptions
	}{
		{name: "defaults", want: defaults},
		{name: "yaml file by flag", args: []string{"--config", yamlPath}, want: fromYAML},
		{name: "yaml file by env", env: map[string]string{"STRATA_CONFIG": yamlPath}, want: fromYAML},
		{
			name: "env beats yaml",
			env: map[string]string{
				"STRATA_CONFIG": yamlPath, "STRATA_DATA_DIR": "/env/data", "STRATA_NODE_ID": "8",
				"STRATA_LOG_LEVEL": "debug", "STRATA_SET": "num.partitions=4,cleanup.policy=compact,delete",
			},
			want: with(fromYAML, func(o *ServeOptions) {
				o.DataDir, o.NodeID, o.LogLevel = "/env/data", 8, "debug"
				o.Settings["num.partitions"] = "4"
				o.Settings["cleanup.policy"] = "compact,delete"
			}),
		},
		{
			name: "flag beats env and yaml",
			env: map[string]string{
				"STRATA_DATA_DIR": "/env/data", "STRATA_NODE_ID": "8", "STRATA_LISTEN": "127.0.0.1:3001",
				"STRATA_SET": "num.partitions=4,log.retention.ms=2000",
			},
			args: []string{
				"--config", yamlPath, "--data-dir", "/flag/data", "--node-id", "9", "--admin", "127.0.0.1:4001",
				"--set", "num.partitions=5", "--set", "message.max.bytes=100",
			},
			want: with(fromYAML, func(o *ServeOptions) {
				o.DataDir, o.NodeID, o.Listen, o.Admin = "/flag/data", 9, "127.0.0.1:3001", "127.0.0.1:4001"
				o.Settings["num.partitions"] = "5"
				o.Settings["log.retention.ms"] = "2000"
				o.Settings["message.max.bytes"] = "100"
			}),
		},
		{
			name: "flags without file",
			args: []string{"--listen", "0.0.0.0:19092", "--advertise", "host.example:19092", "--set", "auto.create.topics.enable=false"},
			want: with(defaults, func(o *ServeOptions) {
				o.Listen, o.Advertise = "0.0.0.0:19092", "host.example:19092"
				o.Settings["auto.create.topics.enable"] = "false"
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serveWith(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServeOptionsErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string // written to a file passed with --config if not empty
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "unknown yaml key", yaml: "data_dir: /x\n", wantErr: "field data_dir not found"},
		{name: "yaml node id not a number", yaml: "node-id: one\n", wantErr: "parse config file"},
		{name: "missing config file", args: []string{"--config", "/nonexistent/strata.yaml"}, wantErr: "read config file"},
		{name: "env node id", env: map[string]string{"STRATA_NODE_ID": "x"}, wantErr: `environment STRATA_NODE_ID: node ID "x"`},
		{name: "negative node id", args: []string{"--node-id", "-1"}, wantErr: "node ID must be >= 1"},
		{name: "node id 0", args: []string{"--node-id", "0"}, wantErr: "node ID must be >= 1"},
		{name: "voter without id", args: []string{"--controller-voters", "127.0.0.1:9193"}, wantErr: "want id@host:port"},
		{name: "voter id 0", args: []string{"--controller-voters", "0@127.0.0.1:9193"}, wantErr: "integer >= 1"},
		{name: "voter twice", args: []string{"--controller-voters", "1@127.0.0.1:9193,1@127.0.0.1:9194"}, wantErr: "node 1 twice"},
		{name: "voter address twice", args: []string{"--controller-voters", "1@127.0.0.1:9193,2@127.0.0.1:9193"}, wantErr: "address 127.0.0.1:9193 twice"},
		{name: "voter without port", args: []string{"--controller-voters", "1@localhost"}, wantErr: "missing port"},
		{name: "voter without listener", args: []string{"--controller-voters", "1@127.0.0.1:9193,2@127.0.0.1:9194"}, wantErr: "needs --controller-listen"},
		{name: "bad controller listen", args: []string{"--controller-listen", "nope"}, wantErr: `controller-listen address "nope"`},
		{name: "listen without port", args: []string{"--listen", "localhost"}, wantErr: `listen address "localhost"`},
		{name: "bad admin from env", env: map[string]string{"STRATA_ADMIN": "nope"}, wantErr: `admin address "nope"`},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: `log level "loud"`},
		{name: "set without value", args: []string{"--set", "num.partitions"}, wantErr: `--set: "num.partitions" is not key=value`},
		{name: "env set without key", env: map[string]string{"STRATA_SET": "=1"}, wantErr: "environment STRATA_SET"},
		{name: "positional argument", args: []string{"extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.yaml != "" {
				args = append(args, "--config", writeFile(t, "strata.yaml", tt.yaml))
			}
			_, err := serveWith(t, tt.env, args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestServeLoggerAndCancel(t *testing.T) {
	var debug bool
	run := func(ctx context.Context, opts ServeOptions, logger *slog.Logger) error {
		debug = logger.Enabled(ctx, slog.LevelDebug)
		logger.Info("ready", "listen", opts.Listen)
		return nil
	}
	_, stderr, err := execute(t, envOf(map[string]string{"STRATA_LOG_LEVEL": "debug"}), run, "", "serve")
	if err != nil {
		t.Fatal(err)
	}
	if !debug {
		t.Errorf("got logger without debug level, want debug enabled")
	}
	if want := "msg=ready listen=127.0.0.1:9092"; !strings.Contains(stderr, want) {
		t.Errorf("got stderr %q, want it to contain %q", stderr, want)
	}

	// The runner gets a context that ends when the command's context does.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cmd := newRootCommand(noEnv, func(ctx context.Context, _ ServeOptions, _ *slog.Logger) error {
		<-ctx.Done()
		return nil
	})
	cmd.SetArgs([]string{"serve"})
	cmd.SetErr(&strings.Builder{})
	go func() { done <- cmd.ExecuteContext(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("got %v after cancel, want nil", err)
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "default", want: "127.0.0.1:9092"},
		{name: "env", env: map[string]string{"STRATA_BROKERS": "a:1,b:2"}, want: "a:1,b:2"},
		{name: "flag beats env", args: []string{"--brokers", "c:3"}, env: map[string]string{"STRATA_BROKERS": "a:1"}, want: "c:3"},
		{name: "bad env value", env: map[string]string{"STRATA_TIMEOUT": "soon"}, wantErr: "environment STRATA_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			brokers := fs.String("brokers", "127.0.0.1:9092", "")
			fs.Duration("timeout", 0, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := applyEnv(fs, envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *brokers != tt.want {
				t.Errorf("got brokers %q, want %q", *brokers, tt.want)
			}
		})
	}
}

func TestServeClusterOptions(t *testing.T) {
	voters := "3@127.0.0.1:9195, 1@127.0.0.1:9193,2@127.0.0.1:9194"
	want := []Voter{{1, "127.0.0.1:9193"}, {2, "127.0.0.1:9194"}, {3, "127.0.0.1:9195"}}
	got, err := serveWith(t, nil, "--node-id", "2", "--controller-listen", "127.0.0.1:9194", "--controller-voters", voters)
	if err != nil {
		t.Fatal(err)
	}
	if got.NodeID != 2 || got.ControllerListen != "127.0.0.1:9194" || !reflect.DeepEqual(got.ControllerVoters, want) {
		t.Fatalf("got %+v, want node 2 on 127.0.0.1:9194 with voters %v", got, want)
	}
	got, err = serveWith(t, map[string]string{"STRATA_CONTROLLER_VOTERS": voters, "STRATA_NODE_ID": "4"})
	if err != nil {
		t.Fatal(err)
	}
	if got.NodeID != 4 || got.ControllerListen != "" || !reflect.DeepEqual(got.ControllerVoters, want) {
		t.Fatalf("broker-only node from the environment: got %+v", got)
	}
	path := writeFile(t, "strata.yaml", "node-id: 1\ncontroller-listen: 127.0.0.1:9193\ncontroller-voters: "+voters+"\n")
	got, err = serveWith(t, nil, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ControllerListen != "127.0.0.1:9193" || !reflect.DeepEqual(got.ControllerVoters, want) {
		t.Fatalf("from YAML: got %+v", got)
	}
}
