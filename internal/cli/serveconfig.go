package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/stratalog/strata/internal/raft"
)

// ServeOptions is the resolved configuration of one node started by
// `strata serve`. Every field has been validated: addresses are host:port,
// LogLevel parses with slog.Level.UnmarshalText, NodeID >= 0.
type ServeOptions struct {
	DataDir   string // directory holding all of the node's data
	Listen    string // host:port the Kafka listener binds
	Advertise string // host:port given to clients in metadata; "" means the address Listen bound
	Admin     string // host:port of the admin HTTP listener (metrics, health)
	LogLevel  string // debug, info, warn or error
	NodeID    int32  // this node's ID in the cluster

	// ControllerListen is the host:port of this node's Raft listener; ""
	// for none (a one-node cluster, or a broker-only node, which dials the
	// voters and needs no listener).
	ControllerListen string
	// ControllerVoters are the controller quorum's voters (Kafka's
	// controller.quorum.voters), sorted by id; nil for a one-node cluster
	// of this node alone.
	ControllerVoters []Voter

	// Settings are broker settings by their Kafka names
	// (e.g. "auto.create.topics.enable"), unvalidated: the node checks them.
	// Never nil.
	Settings map[string]string

	// Faults and Dial are for in-process tests, never set by serve:
	// faults on the Raft network between this node and the others, and the
	// dialer its replica fetchers reach other brokers with.
	Faults raft.Faults
	Dial   func(ctx context.Context, addr string) (net.Conn, error)
}

// Voter is one member of the controller quorum: its node id and the
// host:port of its Raft listener.
type Voter struct {
	ID   int32
	Addr string
}

// Defaults of `strata serve`; Advertise has none: empty means the address
// the Kafka listener bound (which resolves port 0).
const (
	defaultDataDir  = "./strata-data"
	defaultListen   = "127.0.0.1:9092"
	defaultAdmin    = "127.0.0.1:9644"
	defaultLogLevel = "info"
	defaultNodeID   = 1
)

// Flag names of `strata serve`; each is also read from STRATA_<NAME>.
const (
	flagConfig    = "config"
	flagDataDir   = "data-dir"
	flagListen    = "listen"
	flagAdvertise = "advertise"
	flagAdmin     = "admin"
	flagNodeID    = "node-id"
	flagLogLevel  = "log-level"
	flagSet       = "set"

	flagControllerListen = "controller-listen"
	flagControllerVoters = "controller-voters"
)

// serveFile is the layout of the optional YAML file given by --config: the
// flags' names as keys plus a map of Kafka-named broker settings.
type serveFile struct {
	DataDir   *string           `yaml:"data-dir"`
	Listen    *string           `yaml:"listen"`
	Advertise *string           `yaml:"advertise"`
	Admin     *string           `yaml:"admin"`
	NodeID    *int32            `yaml:"node-id"`
	LogLevel  *string           `yaml:"log-level"`
	Settings  map[string]string `yaml:"settings"`

	ControllerListen *string `yaml:"controller-listen"`
	ControllerVoters *string `yaml:"controller-voters"`
}

// serveFields maps each scalar flag to the option it sets from a string.
var serveFields = []struct {
	flag string
	set  func(o *ServeOptions, v string) error
}{
	{flagDataDir, func(o *ServeOptions, v string) error { o.DataDir = v; return nil }},
	{flagListen, func(o *ServeOptions, v string) error { o.Listen = v; return nil }},
	{flagAdvertise, func(o *ServeOptions, v string) error { o.Advertise = v; return nil }},
	{flagAdmin, func(o *ServeOptions, v string) error { o.Admin = v; return nil }},
	{flagLogLevel, func(o *ServeOptions, v string) error { o.LogLevel = v; return nil }},
	{flagControllerListen, func(o *ServeOptions, v string) error { o.ControllerListen = v; return nil }},
	{flagControllerVoters, func(o *ServeOptions, v string) error {
		voters, err := ParseVoters(v)
		o.ControllerVoters = voters
		return err
	}},
	{flagNodeID, func(o *ServeOptions, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("node ID %q is not a 32-bit integer", v)
		}
		o.NodeID = int32(n)
		return nil
	}},
}

// addServeFlags declares the flags of `strata serve` on fs. Their values are
// read back by resolveServeOptions through fs, so no variables are bound.
func addServeFlags(fs *pflag.FlagSet) {
	fs.String(flagConfig, "", "YAML file with the same keys as these flags plus a settings: map (env STRATA_CONFIG)")
	fs.String(flagDataDir, defaultDataDir, "directory for all of this node's data (env STRATA_DATA_DIR)")
	fs.String(flagListen, defaultListen, "host:port of the Kafka listener (env STRATA_LISTEN)")
	fs.String(flagAdvertise, "", "host:port clients are told to connect to (default: --listen) (env STRATA_ADVERTISE)")
	fs.String(flagAdmin, defaultAdmin, "host:port of the admin HTTP listener: /metrics, /healthz, /readyz (env STRATA_ADMIN)")
	fs.Int32(flagNodeID, defaultNodeID, "this node's ID in the cluster (env STRATA_NODE_ID)")
	fs.String(flagLogLevel, defaultLogLevel, "log level: debug, info, warn or error (env STRATA_LOG_LEVEL)")
	fs.String(flagControllerListen, "", "host:port of this node's Raft listener; required for a voter; TLS with --set listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL (env STRATA_CONTROLLER_LISTEN)")
	fs.String(flagControllerVoters, "", "the controller quorum, id@host:port,... (Kafka's controller.quorum.voters); empty: a one-node cluster (env STRATA_CONTROLLER_VOTERS)")
	fs.StringArray(flagSet, nil, "broker setting by its Kafka name, key=value; repeatable (env STRATA_SET: comma-separated)")
}

// resolveServeOptions builds the node's options from fs (already parsed),
// the environment and the YAML file named by --config or STRATA_CONFIG.
// Precedence per option and per setting key: flag > environment > file >
// default. It returns an error naming the source of any invalid value.
func resolveServeOptions(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (ServeOptions, error) {
	opts := ServeOptions{
		DataDir:  defaultDataDir,
		Listen:   defaultListen,
		Admin:    defaultAdmin,
		LogLevel: defaultLogLevel,
		NodeID:   defaultNodeID,
		Settings: map[string]string{},
	}

	path, _, err := flagOrEnv(fs, flagConfig, lookupEnv)
	if err != nil {
		return ServeOptions{}, err
	}
	if path != "" {
		if err := applyServeFile(&opts, path); err != nil {
			return ServeOptions{}, err
		}
	}

	for _, f := range serveFields {
		v, from, err := flagOrEnv(fs, f.flag, lookupEnv)
		if err != nil {
			return ServeOptions{}, err
		}
		if from == "" {
			continue
		}
		if err := f.set(&opts, v); err != nil {
			return ServeOptions{}, fmt.Errorf("%s: %w", from, err)
		}
	}

	if v, ok := lookupEnv(envName(flagSet)); ok {
		m, err := parseKeyValues(splitKeyValueList(v))
		if err != nil {
			return ServeOptions{}, fmt.Errorf("environment %s: %w", envName(flagSet), err)
		}
		maps.Copy(opts.Settings, m)
	}
	if fs.Changed(flagSet) {
		list, err := fs.GetStringArray(flagSet)
		if err != nil {
			return ServeOptions{}, err
		}
		m, err := parseKeyValues(list)
		if err != nil {
			return ServeOptions{}, fmt.Errorf("--%s: %w", flagSet, err)
		}
		maps.Copy(opts.Settings, m)
	}

	if err := opts.validate(); err != nil {
		return ServeOptions{}, err
	}
	return opts, nil
}

// flagOrEnv returns the value of flag name if given on the command line,
// else of its environment variable if set. from describes the source for
// error messages and is "" when neither is set.
func flagOrEnv(fs *pflag.FlagSet, name string, lookupEnv func(string) (string, bool)) (value, from string, err error) {
	f := fs.Lookup(name)
	if f == nil {
		return "", "", fmt.Errorf("internal error: no flag %q", name)
	}
	if f.Changed {
		return f.Value.String(), "--" + name, nil
	}
	if v, ok := lookupEnv(envName(name)); ok {
		return v, "environment " + envName(name), nil
	}
	return "", "", nil
}

// applyServeFile overlays the options set in the YAML file at path. Unknown
// keys are an error, so a typo does not silently fall back to a default.
func applyServeFile(opts *ServeOptions, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	var f serveFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse config file %s: %w", path, err)
	}
	for _, p := range []struct {
		dst *string
		src *string
	}{
		{&opts.DataDir, f.DataDir},
		{&opts.Listen, f.Listen},
		{&opts.Advertise, f.Advertise},
		{&opts.Admin, f.Admin},
		{&opts.LogLevel, f.LogLevel},
		{&opts.ControllerListen, f.ControllerListen},
	} {
		if p.src != nil {
			*p.dst = *p.src
		}
	}
	if f.NodeID != nil {
		opts.NodeID = *f.NodeID
	}
	if f.ControllerVoters != nil {
		voters, err := ParseVoters(*f.ControllerVoters)
		if err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		opts.ControllerVoters = voters
	}
	for k, v := range f.Settings {
		if k == "" {
			return fmt.Errorf("config file %s: empty setting name", path)
		}
		opts.Settings[k] = v
	}
	return nil
}

// validate checks the resolved options.
func (o *ServeOptions) validate() error {
	if o.DataDir == "" {
		return errors.New("data directory must not be empty")
	}
	for _, a := range []struct{ name, addr string }{
		{flagListen, o.Listen},
		{flagAdvertise, o.Advertise},
		{flagAdmin, o.Admin},
	} {
		if a.name == flagAdvertise && a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s address %q: %w", a.name, a.addr, err)
		}
	}
	if o.NodeID < 1 {
		return fmt.Errorf("node ID must be >= 1, got %d", o.NodeID)
	}
	if o.ControllerListen != "" {
		if _, _, err := net.SplitHostPort(o.ControllerListen); err != nil {
			return fmt.Errorf("%s address %q: %w", flagControllerListen, o.ControllerListen, err)
		}
	}
	for _, v := range o.ControllerVoters {
		if v.ID == o.NodeID && o.ControllerListen == "" {
			return fmt.Errorf("node %d is a controller voter (--%s), so it needs --%s (the voters list gives %s)",
				o.NodeID, flagControllerVoters, flagControllerListen, v.Addr)
		}
	}
	if _, err := parseLogLevel(o.LogLevel); err != nil {
		return err
	}
	return nil
}

// parseLogLevel parses debug, info, warn or error (any case).
func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// ParseVoters parses a controller.quorum.voters list, "id@host:port" items
// separated by commas, into voters sorted by id. Ids must be >= 1 and
// distinct, addresses host:port and distinct. An empty string is no voters.
func ParseVoters(s string) ([]Voter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var voters []Voter
	ids, addrs := map[int32]bool{}, map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		idStr, addr, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("controller voter %q: want id@host:port", item)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("controller voter %q: the id must be an integer >= 1", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller voter %q: %w", item, err)
		}
		if ids[int32(id)] {
			return nil, fmt.Errorf("controller voters list node %d twice", id)
		}
		if addrs[addr] {
			return nil, fmt.Errorf("controller voters list address %s twice", addr)
		}
		ids[int32(id)], addrs[addr] = true, true
		voters = append(voters, Voter{ID: int32(id), Addr: addr})
	}
	slices.SortFunc(voters, func(a, b Voter) int { return cmp.Compare(a.ID, b.ID) })
	return voters, nil
}
