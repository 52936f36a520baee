package tlsconfig

import (
	"encoding/asn1"
	"testing"

	"crypto/x509/pkix"
)

var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

func rdn(atvs ...pkix.AttributeTypeAndValue) pkix.RelativeDistinguishedNameSET { return atvs }

func atv(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}
}

// TestFormatDN checks the RFC 2253 form against what Java's
// X500Principal.getName() gives, the name Kafka maps.
func TestFormatDN(t *testing.T) {
	tests := []struct {
		name string
		seq  pkix.RDNSequence
		want string
	}{
		{"order reversed", pkix.RDNSequence{rdn(atv(oidC, "US")), rdn(atv(oidO, "Example")), rdn(atv(oidOU, "eng")), rdn(atv(oidCN, "alice"))},
			"CN=alice,OU=eng,O=Example,C=US"},
		{"specials escaped", pkix.RDNSequence{rdn(atv(oidO, `Acme, Inc.`)), rdn(atv(oidCN, `a+b=c<d>;"e"\f#g`))},
			`CN=a\+b\=c\<d\>\;\"e\"\\f\#g,O=Acme\, Inc.`},
		{"leading and trailing spaces", pkix.RDNSequence{rdn(atv(oidCN, "  bob "))}, `CN=\ \ bob\ `},
		{"multi-valued RDN", pkix.RDNSequence{rdn(atv(oidCN, "carol"), atv(oidOU, "ops"))}, "OU=ops+CN=carol"}, // as encoded: DER sorts a SET

		{"types Java has no keyword for", pkix.RDNSequence{rdn(atv(oidEmail, "a@b.c")), rdn(atv(oidSerial, "42"))},
			"2.5.4.5=#13023432,1.2.840.113549.1.9.1=#0c056140622e63"},
		{"DC keyword", pkix.RDNSequence{rdn(atv(oidDC, "example")), rdn(atv(oidCN, "dave"))}, "CN=dave,DC=example"},
		{"UTF-8", pkix.RDNSequence{rdn(atv(oidCN, "Zoë"))}, "CN=Zoë"},
		{"empty", pkix.RDNSequence{}, ""},
	}
	for _, tt := range tests {
		der, err := asn1.Marshal(tt.seq)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FormatDN(der)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	if _, err := FormatDN([]byte{0x30, 0x05, 0x31}); err == nil {
		t.Error("truncated name: got no error")
	}
}

func TestPrincipalRules(t *testing.T) {
	const dn = "CN=Alice,OU=Eng,O=Example,C=US"
	tests := []struct {
		rules, dn, want string
		wantErr         bool
	}{
		{"DEFAULT", dn, dn, false},
		{"", dn, dn, false},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),C=(.*?)$/$1@$2/L, DEFAULT", dn, "alice@eng", false},
		{"RULE:^CN=([^,]*),OU=([^,]*)$/$1/U,DEFAULT", dn, dn, false}, // no full match: falls through
		{"RULE:^CN=([^,]*),.*$/$1/U", dn, "ALICE", false},
		{"RULE:^CN=([^,]*),.*$/x\\/$1\\$/", dn, "x/Alice$", false},
		{"RULE:^OU=.*$/$0/", dn, "", true}, // no rule applies
		{"RULE:(/$1/", dn, "", true},       // bad pattern
		{"RULE:^CN=(.*)$/$2/", dn, "", true},
		{"RULE:abc", dn, "", true},
		{"DEFAULT junk", dn, "", true},
		{"NOPE", dn, "", true},
	}
	for _, tt := range tests {
		rs, err := ParseRules(tt.rules)
		var got string
		if err == nil {
			got, err = rs.Map(tt.dn)
		}
		if tt.wantErr != (err != nil) || got != tt.want {
			t.Errorf("%q on %s: got %q, %v; want %q (error %v)", tt.rules, tt.dn, got, err, tt.want, tt.wantErr)
		}
	}
}

// FuzzFormatDN: any bytes either fail to parse or format without panicking.
func FuzzFormatDN(f *testing.F) {
	der, _ := asn1.Marshal(pkix.RDNSequence{rdn(atv(oidCN, "a,b")), rdn(atv(oidEmail, "x"))})
	f.Add(der)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add(append(der, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = FormatDN(b) })
}

// FuzzParseRules: any rule text is parsed or refused, and parsed rules map
// any name without panicking.
func FuzzParseRules(f *testing.F) {
	for _, s := range []string{"DEFAULT", "RULE:^CN=(.*?),.*$/$1/L,DEFAULT", "RULE:a\\/b/c\\$$1/U", "RULE:", ""} {
		f.Add(s, "CN=a,O=b")
	}
	f.Fuzz(func(t *testing.T, rules, dn string) {
		rs, err := ParseRules(rules)
		if err != nil {
			return
		}
		_, _ = rs.Map(dn)
	})
}
