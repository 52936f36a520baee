// Package config defines Strata's broker settings and topic configs with
// Apache Kafka's names, types, defaults and validation rules, and resolves a
// topic's effective configuration from its overrides, the broker's settings
// and the defaults, in Kafka's order of precedence.
//
// Error messages are Kafka's own texts (capitalised as Kafka writes them),
// because they travel to clients verbatim in error_message fields.
package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Error is an invalid config name or value. Its message is Kafka's text for
// the problem; it unwraps to kerr.InvalidConfig, the code the protocol edge
// answers with.
type Error struct {
	Name string // the config at fault
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns kerr.InvalidConfig.
func (e *Error) Unwrap() error { return kerr.InvalidConfig }

func invalidValue(name, value, why string) *Error {
	return &Error{Name: name, Msg: fmt.Sprintf("Invalid value %s for configuration %s: %s", value, name, why)}
}

// Definition describes one config: its Kafka name, type, default and rules.
type Definition struct {
	Name string
	Type kmsg.ConfigType
	// Default is the default value in Kafka's string form; nil when the
	// config has none (it is then unset unless given).
	Default *string
	Doc     string
	// Synonyms are, for a topic config, the broker settings that supply its
	// default, in Kafka's order of precedence (see ServerTopicConfigSynonyms).
	Synonyms []string
	// units[i] converts Synonyms[i] to the topic config's unit (hours or
	// minutes to milliseconds); 0 means as is.
	units []int64
	check func(v value) string // "" when valid; else Kafka's reason
}

// value is a parsed config value; which field is set depends on the type.
type value struct {
	i    int64
	f    float64
	b    bool
	s    string
	list []string
}

// Parse checks raw against the definition and returns its canonical string
// form (trimmed, lists normalised) or an *Error in Kafka's words.
func (d *Definition) Parse(raw string) (string, error) {
	v, err := d.parse(raw)
	if err != nil {
		return "", err
	}
	return d.format(v), nil
}

func (d *Definition) parse(raw string) (value, error) {
	var v value
	t := strings.TrimSpace(raw)
	var err error
	switch d.Type {
	case kmsg.ConfigTypeBoolean:
		switch strings.ToLower(t) {
		case "true":
			v.b = true
		case "false":
		default:
			return v, invalidValue(d.Name, raw, "Expected value to be either true or false")
		}
	case kmsg.ConfigTypeShort, kmsg.ConfigTypeInt, kmsg.ConfigTypeLong:
		bits := map[kmsg.ConfigType]int{kmsg.ConfigTypeShort: 16, kmsg.ConfigTypeInt: 32, kmsg.ConfigTypeLong: 64}[d.Type]
		if v.i, err = strconv.ParseInt(t, 10, bits); err != nil {
			return v, invalidValue(d.Name, raw, "Not a number of type "+typeName(d.Type))
		}
	case kmsg.ConfigTypeDouble:
		if v.f, err = strconv.ParseFloat(t, 64); err != nil || math.IsNaN(v.f) {
			return v, invalidValue(d.Name, raw, "Not a number of type DOUBLE")
		}
	case kmsg.ConfigTypeList:
		if t != "" {
			v.list = strings.Split(t, ",")
			for i := range v.list {
				v.list[i] = strings.TrimSpace(v.list[i])
			}
		}
	default:
		v.s = t
	}
	if d.check != nil {
		if why := d.check(v); why != "" {
			if d.Type == kmsg.ConfigTypePassword {
				raw = "[hidden]" // Kafka never shows a password, not even a bad one
			}
			return v, invalidValue(d.Name, raw, why)
		}
	}
	return v, nil
}

func (d *Definition) format(v value) string {
	switch d.Type {
	case kmsg.ConfigTypeBoolean:
		return strconv.FormatBool(v.b)
	case kmsg.ConfigTypeShort, kmsg.ConfigTypeInt, kmsg.ConfigTypeLong:
		return strconv.FormatInt(v.i, 10)
	case kmsg.ConfigTypeDouble:
		return formatDouble(v.f)
	case kmsg.ConfigTypeList:
		return strings.Join(v.list, ",")
	}
	return v.s
}

// formatDouble writes f in plain digits where Go would switch to an
// exponent early (1000000, not 1e+06), and beyond that with an exponent as
// Java writes it, Kafka's form: 1.7976931348623157E308, not e+308.
func formatDouble(f float64) string {
	if a := math.Abs(f); a == 0 || a >= 1e-4 && a < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}

// mustParse parses a value already validated (a default or a stored
// setting). A failure means a broken definition table, caught by tests.
func (d *Definition) mustParse(raw string) value {
	v, err := d.parse(raw)
	if err != nil {
		panic(fmt.Sprintf("config: definition %s: %v", d.Name, err))
	}
	return v
}

func typeName(t kmsg.ConfigType) string {
	switch t {
	case kmsg.ConfigTypeShort:
		return "SHORT"
	case kmsg.ConfigTypeInt:
		return "INT"
	case kmsg.ConfigTypeLong:
		return "LONG"
	}
	return "DOUBLE"
}

// Validators, with Kafka's ConfigDef messages.

func atLeast(min int64) func(value) string {
	return func(v value) string {
		if v.i < min {
			return fmt.Sprintf("Value must be at least %d", min)
		}
		return ""
	}
}

func betweenFloat(min, max float64) func(value) string {
	return func(v value) string {
		switch {
		case v.f < min:
			return fmt.Sprintf("Value must be at least %v", min)
		case v.f > max:
			return fmt.Sprintf("Value must be no more than %v", max)
		}
		return ""
	}
}

func oneOf(allowed ...string) func(value) string {
	return func(v value) string {
		for _, a := range allowed {
			if v.s == a {
				return ""
			}
		}
		return "String must be one of: " + strings.Join(allowed, ", ")
	}
}

func listOf(allowed ...string) func(value) string {
	return func(v value) string {
		for _, e := range v.list {
			if oneOf(allowed...)(value{s: e}) != "" {
				return "String must be one of: " + strings.Join(allowed, ", ")
			}
		}
		return ""
	}
}

// nonEmptyListOf is listOf that also refuses an empty list.
func nonEmptyListOf(allowed ...string) func(value) string {
	return func(v value) string {
		if len(v.list) == 0 {
			return "List must contain at least one of: " + strings.Join(allowed, ", ")
		}
		return listOf(allowed...)(v)
	}
}

// throttledReplicas accepts "", "*" or partition:broker pairs, as Kafka's
// ThrottledReplicaListValidator does.
func throttledReplicas(v value) string {
	if len(v.list) == 1 && v.list[0] == "*" {
		return ""
	}
	for _, e := range v.list {
		p, b, ok := strings.Cut(e, ":")
		_, perr := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		_, berr := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
		if !ok || perr != nil || berr != nil {
			return "Must be the wildcard (*) or of the form 'partitionId:brokerId,partitionId:brokerId,...'"
		}
	}
	return ""
}

// onlyFalse accepts only false: for features Strata does not have.
func onlyFalse(v value) string {
	if v.b {
		return "Strata does not support this feature"
	}
	return ""
}

func str(s string) *string { return &s }
