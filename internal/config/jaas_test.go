package config

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestParseJAAS(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want JAASLogin
	}{
		{`org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="b-secret";`,
			JAASLogin{ScramLoginModule, "required", map[string]string{"username": "broker", "password": "b-secret"}}},
		// Kafka's PLAIN server entry: user_ options are other users.
		{"org.apache.kafka.common.security.plain.PlainLoginModule REQUIRED\n  username=admin\n  password=\"a \\\"q\\\" \\\\ ;\"\n  user_admin=\"x\";",
			JAASLogin{PlainLoginModule, "required", map[string]string{"username": "admin", "password": `a "q" \ ;`, "user_admin": "x"}}},
		{"/* c */ m.M optional // line\n k = v ;  ", JAASLogin{"m.M", "optional", map[string]string{"k": "v"}}},
		{`m.M sufficient;`, JAASLogin{"m.M", "sufficient", map[string]string{}}},
	} {
		got, err := ParseJAAS(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got.Module != tt.want.Module || got.Flag != tt.want.Flag || !maps.Equal(got.Options, tt.want.Options) {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{
		``,
		`m.M required username="u" password="p"`,         // no semicolon
		`m.M always username="u";`,                       // not a flag
		`m.M required username="u;`,                      // unterminated
		`m.M required username "u";`,                     // no =
		`m.M required username="u" username="v";`,        // twice
		`m.M required username="u"; n.N required a="b";`, // two modules
		`m.M required ="s3cret";`,
	} {
		_, err := ParseJAAS(bad)
		if err == nil {
			t.Errorf("%q: parsed, want an error", bad)
		} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), `"u"`) {
			t.Errorf("%q: the error %q shows a value", bad, err)
		}
	}
}

// TestInterBrokerSASL resolves the inter-broker mechanism and credentials
// from Kafka's settings and refuses each incomplete form, naming the setting
// and never the password.
func TestInterBrokerSASL(t *testing.T) {
	const jaasName = "listener.name.internal.scram-sha-512.sasl.jaas.config"
	scram := map[string]string{
		"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
		jaasName:                               ScramLoginModule + ` required username="broker" password="pw-123";`,
	}
	b, err := ParseBroker(scram)
	if err != nil {
		t.Fatal(err)
	}
	mech, user, pass, err := b.InterBrokerSASL("INTERNAL")
	if err != nil || mech != "SCRAM-SHA-512" || user != "broker" || pass != "pw-123" {
		t.Fatalf("got %q %q %q %v, want SCRAM-SHA-512 broker pw-123", mech, user, pass, err)
	}
	with := func(k, v string) map[string]string {
		m := maps.Clone(scram)
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		settings map[string]string
		listener string
		errName  string
	}{
		{with("sasl.mechanism.inter.broker.protocol", ""), "INTERNAL", "sasl.mechanism.inter.broker.protocol"},
		{scram, "EXTERNAL", "listener.name.external.scram-sha-512.sasl.jaas.config"},
		{with("sasl.enabled.mechanisms", "PLAIN"), "INTERNAL", "sasl.mechanism.inter.broker.protocol"},
		{with(jaasName, PlainLoginModule+` required username="broker" password="pw-123";`), "INTERNAL", jaasName},
		{with(jaasName, ScramLoginModule+` required username="broker";`), "INTERNAL", jaasName},
	} {
		b, err := ParseBroker(tt.settings)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = b.InterBrokerSASL(tt.listener)
		var ce *Error
		if !errors.As(err, &ce) || ce.Name != tt.errName || strings.Contains(err.Error(), "pw-123") {
			t.Errorf("%v on %s: got %v, want an error about %s without the password", tt.settings, tt.listener, err, tt.errName)
		}
	}
	// A bad value is refused when parsed, without showing it; a mechanism
	// Strata does not know is an unknown setting.
	for _, bad := range []map[string]string{
		{jaasName: ScramLoginModule + ` required password="pw-123"`},
		{"listener.name.internal.gssapi.sasl.jaas.config": "x required;"},
		{"sasl.mechanism.inter.broker.protocol": "KERBEROS"},
	} {
		_, err := ParseBroker(bad)
		if !errors.Is(err, kerr.InvalidConfig) || strings.Contains(err.Error(), "pw-123") {
			t.Errorf("%v: got %v, want INVALID_CONFIG without the password", bad, err)
		}
	}
}

// FuzzParseJAAS: ParseJAAS never panics, and what it accepts, written back
// in quoted form, parses to the same entry.
func FuzzParseJAAS(f *testing.F) {
	for _, s := range []string{
		``, `;`, `m.M required;`,
		ScramLoginModule + ` required username="broker" password="secret";`,
		"m.M optional /* x */ a=b // c\n ;",
		`m.M required a="\"\\\n";`, `m.M required a="`, `m.M required a="b"; garbage`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseJAAS(s)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString(l.Module + " " + l.Flag)
		for k, v := range l.Options {
			b.WriteString(" " + k + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`)
		}
		b.WriteString(";")
		again, err := ParseJAAS(b.String())
		if err != nil || again.Module != l.Module || again.Flag != l.Flag || !maps.Equal(again.Options, l.Options) {
			t.Fatalf("%q re-written as %q: got %+v, %v; want %+v", s, b.String(), again, err, l)
		}
	})
}
