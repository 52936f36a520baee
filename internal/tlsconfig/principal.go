package tlsconfig

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
)

// Rules are Kafka's ssl.principal.mapping.rules: in order, the first rule
// whose pattern matches the whole distinguished name gives the user name.
type Rules []rule

type rule struct {
	isDefault bool // DEFAULT: the distinguished name as it is
	re        *regexp.Regexp
	template  string // Go regexp.Expand form of the replacement
	lower     bool
	upper     bool
}

// ParseRules parses a comma-separated list of DEFAULT and
// RULE:pattern/replacement/[LU] items, as Kafka writes them. Inside pattern
// and replacement a backslash escapes the next character (\/ for a slash);
// the replacement refers to groups as $1. An empty list is DEFAULT alone.
func ParseRules(s string) (Rules, error) {
	var rules Rules
	p := ruleParser{s: s}
	for p.skipSpace(); p.i < len(p.s); p.skipSpace() {
		r, err := p.rule()
		if err != nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: %w", err)
		}
		rules = append(rules, r)
		p.skipSpace()
		if p.i < len(p.s) {
			if p.s[p.i] != ',' {
				return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule: unmatched text %q", p.s[p.i:])
			}
			p.i++
		}
	}
	if len(rules) == 0 {
		rules = Rules{{isDefault: true}}
	}
	return rules, nil
}

type ruleParser struct {
	s string
	i int
}

func (p *ruleParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *ruleParser) rule() (rule, error) {
	rest := p.s[p.i:]
	if strings.HasPrefix(rest, "DEFAULT") {
		p.i += len("DEFAULT")
		return rule{isDefault: true}, nil
	}
	if !strings.HasPrefix(rest, "RULE:") {
		return rule{}, fmt.Errorf("invalid rule %q: want DEFAULT or RULE:pattern/replacement/[LU]", rest)
	}
	p.i += len("RULE:")
	pattern, ok := p.upToSlash()
	if !ok {
		return rule{}, fmt.Errorf("invalid rule %q: want RULE:pattern/replacement/[LU]", rest)
	}
	replacement, ok := p.upToSlash()
	if !ok {
		return rule{}, fmt.Errorf("invalid rule %q: want RULE:pattern/replacement/[LU]", rest)
	}
	r := rule{}
	if p.i < len(p.s) && (p.s[p.i] == 'L' || p.s[p.i] == 'U') {
		r.lower, r.upper = p.s[p.i] == 'L', p.s[p.i] == 'U'
		p.i++
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return rule{}, fmt.Errorf("rule pattern %q: %w", pattern, err)
	}
	r.re = re
	if r.template, err = goTemplate(replacement, re.NumSubexp()); err != nil {
		return rule{}, fmt.Errorf("rule replacement %q: %w", replacement, err)
	}
	return r, nil
}

// upToSlash returns the text up to the next unescaped slash and moves past
// that slash; escapes are kept, for the regular expression or goTemplate.
func (p *ruleParser) upToSlash() (string, bool) {
	start := p.i
	for ; p.i < len(p.s); p.i++ {
		switch p.s[p.i] {
		case '\\':
			p.i++
		case '/':
			p.i++
			return p.s[start : p.i-1], true
		}
	}
	return "", false
}

// goTemplate turns a Java replacement string ($n refers to group n, a
// backslash quotes the next character) into regexp.Expand's form.
func goTemplate(repl string, groups int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		switch c := repl[i]; c {
		case '\\':
			if i+1 == len(repl) {
				return "", errors.New("character to be escaped is missing")
			}
			i++
			if repl[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(repl[i])
			}
		case '$':
			j := i + 1
			n := 0
			for j < len(repl) && repl[j] >= '0' && repl[j] <= '9' && n*10+int(repl[j]-'0') <= groups {
				n = n*10 + int(repl[j]-'0')
				j++
			}
			if j == i+1 {
				return "", errors.New("illegal group reference")
			}
			fmt.Fprintf(&b, "${%d}", n)
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// Map returns the user name for distinguished name dn, or an error when no
// rule applies (Kafka then fails the connection's authentication).
func (rs Rules) Map(dn string) (string, error) {
	for _, r := range rs {
		if r.isDefault {
			return dn, nil
		}
		m := r.re.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		name := string(r.re.ExpandString(nil, r.template, dn, m))
		switch {
		case r.lower:
			name = strings.ToLower(name)
		case r.upper:
			name = strings.ToUpper(name)
		}
		return name, nil
	}
	return "", fmt.Errorf("no ssl.principal.mapping.rules rule applies to %q", dn)
}

// rfc2253Keywords are the attribute types Java's X500Principal.getName()
// writes by name; every other type is written as its dotted OID.
var rfc2253Keywords = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET",
	"2.5.4.10": "O", "2.5.4.11": "OU",
	"0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
}

type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// The asn1 package decodes a type whose name ends in SET as a SET OF.
type relativeDistinguishedNameSET []attributeTypeAndValue

// FormatDN writes a DER-encoded X.509 name (a certificate's RawSubject) in
// RFC 2253 form exactly as Java's X500Principal.getName() does, which is
// the name Kafka's principal mapping sees: the last RDN first, a keyword
// for the types Java knows and the value as text when it is a string, else
// the dotted OID and #hex of the value's DER encoding.
func FormatDN(der []byte) (string, error) {
	var rdns []relativeDistinguishedNameSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil {
		return "", fmt.Errorf("parse distinguished name: %w", err)
	}
	if len(rest) > 0 {
		return "", errors.New("parse distinguished name: trailing data")
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAVA(&b, atv)
		}
	}
	return b.String(), nil
}

func writeAVA(b *strings.Builder, atv attributeTypeAndValue) {
	oid := atv.Type.String()
	keyword, known := rfc2253Keywords[oid]
	text, isString := derString(atv.Value)
	if !known || !isString {
		if !known {
			keyword = oid
		}
		b.WriteString(keyword)
		b.WriteString("=#")
		b.WriteString(hex.EncodeToString(atv.Value.FullBytes))
		return
	}
	b.WriteString(keyword)
	b.WriteByte('=')
	escaped := make([]byte, 0, len(text))
	for _, c := range []byte(text) {
		switch {
		case strings.IndexByte(`,=+<>#;"\`, c) >= 0:
			escaped = append(escaped, '\\', c)
		case c == 0:
			escaped = append(escaped, `\00`...)
		default:
			escaped = append(escaped, c)
		}
	}
	// Leading and trailing spaces (and carriage returns) are escaped too.
	lead := 0
	for lead < len(escaped) && (escaped[lead] == ' ' || escaped[lead] == '\r') {
		lead++
	}
	trail := len(escaped) - 1
	for trail >= lead && (escaped[trail] == ' ' || escaped[trail] == '\r') {
		trail--
	}
	for i, c := range escaped {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}

// derString decodes the string types Java writes as text: PrintableString,
// T61String, IA5String, GeneralString, BMPString and UTF8String.
func derString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagUTF8String, asn1.TagGeneralString:
		return string(v.Bytes), true
	case asn1.TagT61String: // ISO 8859-1, as Java reads it
		r := make([]rune, len(v.Bytes))
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		return string(r), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}
